#pragma once
// A tar archive read as a stream of members (from a plain file or a gzip file inflated on the
// fly), so that an archive of any size is listed or read in one pass with bounded memory. The
// headers are parsed by the same code as TarArchive's. For an uncompressed archive each member's
// data offset is the file offset, so a member can later be read on its own with pread.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/file_stream.hpp"
#include "deephash/data/tar_header.hpp"

namespace deephash {

// A regular file of the archive.
struct TarStreamMember {
  std::string name;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;   // of its data in the (uncompressed) archive
  std::size_t ordinal = 0;    // 0 for the first regular file, 1 for the next, ...
};

class TarStream {
 public:
  explicit TarStream(std::unique_ptr<ByteStream> in)
      : in_(std::move(in)), headers_(in_->source()) {}
  // The archive at `path`, gzip-compressed or not.
  explicit TarStream(const std::string& path) : TarStream(open_byte_stream(path)) {}

  const std::string& source() const { return in_->source(); }

  // Moves to the next regular file (passing over what is left of the current one); false at
  // the end of the archive.
  bool next(TarStreamMember& member) {
    skip_rest();
    for (;;) {
      const std::uint64_t offset = in_->position();
      std::uint8_t header[detail::kTarBlock];
      const std::size_t got = in_->read(header, detail::kTarBlock);
      if (got == 0)
        throw Error(source(), "truncated: the tar archive ends at offset " + std::to_string(offset) +
                                  " without its end-of-archive zero block");
      if (got < detail::kTarBlock)
        throw Error(source(), "truncated: " + std::to_string(got) + " bytes at offset " +
                                  std::to_string(offset) + " are not a whole 512-byte tar header");
      detail::TarMember m;
      if (!headers_.parse(header, offset, m)) {
        ended_ = true;
        return false;
      }
      current_ = m;
      header_offset_ = offset;
      data_offset_ = in_->position();
      left_ = m.size;
      padding_ = detail::tar_padding(m.size);
      if (headers_.needs_data(m)) {
        std::vector<std::uint8_t> data;
        read_data(data);
        headers_.take_data(m, data.data(), data.size());
      }
      if (headers_.finish(m)) {
        member = {m.name, m.size, data_offset_, ordinal_++};
        return true;
      }
      skip_rest();
    }
  }

  // The current member's data (what is left of it), checked to be all there. The buffer grows
  // with the bytes that actually arrive: the size is only the header's word, and a gzip stream's
  // length is unknown up front, so a corrupt header declaring gigabytes must end in "truncated",
  // not in an allocation of that size.
  void read_data(std::vector<std::uint8_t>& out) {
    out.clear();
    std::uint64_t got = 0;
    while (got < left_) {
      const std::size_t piece = std::size_t(std::min<std::uint64_t>(left_ - got, std::max<std::uint64_t>(got, kFirstPiece)));
      out.resize(std::size_t(got) + piece);
      const std::size_t k = in_->read(out.data() + got, piece);
      got += k;
      if (k < piece) truncated(got);
    }
    left_ = 0;
  }

  bool at_end() const { return ended_; }

 private:
  static constexpr std::uint64_t kFirstPiece = 1 << 20;  // then doubling: linear copying overall

  [[noreturn]] void truncated(std::uint64_t got) const {
    throw Error(source(), "truncated: tar entry \"" + current_.name + "\" at offset " +
                              std::to_string(header_offset_) + " declares " + std::to_string(current_.size) +
                              " bytes, only " + std::to_string(current_.size - left_ + got) + " are there");
  }

  void skip_rest() {
    if (left_ > 0) {
      const std::uint64_t got = in_->skip(left_);
      if (got < left_) truncated(got);
      left_ = 0;
    }
    if (padding_ > 0) {
      if (in_->skip(padding_) < padding_)
        throw Error(source(), "truncated: tar entry \"" + current_.name + "\" at offset " +
                                  std::to_string(header_offset_) + " lacks its block padding");
      padding_ = 0;
    }
  }

  std::unique_ptr<ByteStream> in_;
  detail::TarHeaderParser headers_;
  detail::TarMember current_;
  std::uint64_t header_offset_ = 0, data_offset_ = 0, left_ = 0;
  std::size_t padding_ = 0;
  std::size_t ordinal_ = 0;
  bool ended_ = false;
};

}  // namespace deephash
