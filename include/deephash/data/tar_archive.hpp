#pragma once
// Reading tar archives (POSIX ustar, pax and GNU) held in memory, the way image datasets are
// often shipped. Only regular files are listed; each is a view into the archive's buffer, so an
// archive of many small images costs one allocation. Every header is checksummed and every size
// is checked against the bytes present before it is used.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/data/gzip.hpp"
#include "deephash/data/tar_header.hpp"

namespace deephash {

// A regular file in a tar archive.
struct TarEntry {
  std::string name;                    // path inside the archive
  const std::uint8_t* data = nullptr;  // into the archive's buffer: valid while the archive lives
  std::size_t size = 0;
};

class TarArchive {
 public:
  // Parses the archive in `bytes`; `source` names it in errors.
  TarArchive(std::vector<std::uint8_t> bytes, std::string source)
      : bytes_(std::move(bytes)), source_(std::move(source)) {
    parse();
  }

  // Reads a tar file, gzip-compressed (.tar.gz, .tgz) or not.
  static TarArchive read(const std::string& path) { return TarArchive(read_file_maybe_gzip(path), path); }

  // Entries point into bytes_, whose buffer a move keeps but a copy would not.
  TarArchive(const TarArchive&) = delete;
  TarArchive& operator=(const TarArchive&) = delete;
  TarArchive(TarArchive&&) = default;
  TarArchive& operator=(TarArchive&&) = default;

  const std::string& source() const { return source_; }
  // The regular files, in archive order.
  const std::vector<TarEntry>& entries() const { return entries_; }

 private:
  static constexpr std::size_t kBlock = detail::kTarBlock;

  void parse() {
    ByteReader in(bytes_, source_);
    detail::TarHeaderParser headers(source_);
    for (;;) {
      const std::size_t offset = in.position();
      if (in.remaining() < kBlock) {
        if (in.at_end())
          throw Error(source_, "truncated: the tar archive ends at offset " + std::to_string(offset) +
                                   " without its end-of-archive zero block");
        throw Error(source_, "truncated: " + std::to_string(in.remaining()) + " bytes at offset " +
                                 std::to_string(offset) + " are not a whole 512-byte tar header");
      }
      detail::TarMember member;
      if (!headers.parse(in.take(kBlock, "a tar header"), offset, member)) break;
      if (member.size > in.remaining())
        throw Error(source_, "truncated: tar entry \"" + member.name + "\" at offset " +
                                 std::to_string(offset) + " declares " + std::to_string(member.size) +
                                 " bytes, only " + std::to_string(in.remaining()) + " are left");
      const std::uint8_t* data = in.take(std::size_t(member.size), "tar entry data");
      const std::size_t padding = detail::tar_padding(member.size);
      if (padding > in.remaining())
        throw Error(source_, "truncated: tar entry \"" + member.name + "\" at offset " +
                                 std::to_string(offset) + " lacks its block padding");
      in.skip(padding, "tar block padding");
      if (headers.needs_data(member)) headers.take_data(member, data, std::size_t(member.size));
      if (headers.finish(member)) entries_.push_back({member.name, data, std::size_t(member.size)});
    }
  }

  std::vector<std::uint8_t> bytes_;
  std::string source_;
  std::vector<TarEntry> entries_;
};

}  // namespace deephash
