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
  static constexpr std::size_t kBlock = 512;
  // Header field offsets and lengths (POSIX ustar).
  struct Field {
    std::size_t offset, length;
  };
  static constexpr Field kName{0, 100}, kSize{124, 12}, kChecksum{148, 8}, kMagic{257, 6},
      kPrefix{345, 155};
  static constexpr std::size_t kTypeFlag = 156;

  // Bytes up to the first NUL or `max`: header fields need no terminator when full.
  static std::string bounded_text(const std::uint8_t* p, std::size_t max) {
    return std::string(reinterpret_cast<const char*>(p),
                       std::size_t(std::find(p, p + max, std::uint8_t(0)) - p));
  }
  static std::string text(const std::uint8_t* header, Field f) {
    return bounded_text(header + f.offset, f.length);
  }

  [[noreturn]] void fail(std::size_t offset, const std::string& problem) const {
    throw Error(source_, "tar header at offset " + std::to_string(offset) + ": " + problem);
  }

  // A numeric field: octal digits (space- or NUL-terminated, leading spaces allowed), or GNU's
  // base-256 for values too large for octal (first byte's high bit set).
  std::uint64_t number(const std::uint8_t* header, Field f, const char* what, std::size_t offset,
                       bool base256_allowed = true) const {
    const std::uint8_t* p = header + f.offset;
    std::uint64_t value = 0;
    if (base256_allowed && (p[0] & 0x80)) {
      if (p[0] != 0x80) fail(offset, std::string("the ") + what + " field is negative or too large");
      for (std::size_t i = 1; i < f.length; ++i) {
        if (value >> 55) fail(offset, std::string("the ") + what + " field is too large");
        value = value << 8 | p[i];
      }
      return value;
    }
    std::size_t i = 0;
    while (i < f.length && p[i] == ' ') ++i;
    for (; i < f.length && p[i] != ' ' && p[i] != 0; ++i) {
      if (p[i] < '0' || p[i] > '7')
        fail(offset, std::string("the ") + what +
                         " field is not an octal number: the archive is corrupted or not a tar file");
      value = value << 3 | std::uint64_t(p[i] - '0');
    }
    return value;
  }

  void verify_checksum(const std::uint8_t* header, std::size_t offset) const {
    const std::uint64_t stored = number(header, kChecksum, "checksum", offset, /*base256_allowed=*/false);
    // The sum is taken with the checksum field read as spaces. Some old tars summed signed
    // bytes; both are accepted, as GNU tar does.
    std::uint64_t unsigned_sum = 0;
    std::int64_t signed_sum = 0;
    for (std::size_t i = 0; i < kBlock; ++i) {
      const bool in_field = i >= kChecksum.offset && i < kChecksum.offset + kChecksum.length;
      const std::uint8_t b = in_field ? std::uint8_t(' ') : header[i];
      unsigned_sum += b;
      signed_sum += static_cast<std::int8_t>(b);
    }
    if (stored != unsigned_sum && std::int64_t(stored) != signed_sum)
      fail(offset, "header checksum mismatch (stored " + std::to_string(stored) + ", computed " +
                       std::to_string(unsigned_sum) + "): the archive is corrupted or not a tar file");
  }

  // pax extended header records, "<length> <key>=<value>\n": sets `path` and `size_value`
  // (and `has_size`) when the records give them; other keys do not matter here.
  void parse_pax(const std::uint8_t* data, std::size_t size, std::size_t offset, std::string& path,
                 bool& has_size, std::uint64_t& size_value) const {
    std::size_t pos = 0;
    while (pos < size) {
      if (data[pos] == 0) break;  // padding some writers leave
      std::size_t length = 0, i = pos;
      for (; i < size && data[i] >= '0' && data[i] <= '9'; ++i) {
        length = length * 10 + std::size_t(data[i] - '0');
        if (length > size) fail(offset, "corrupt pax record: its length runs past the header");
      }
      if (i == pos || i >= size || data[i] != ' ' || length < i - pos + 3 || length > size - pos ||
          data[pos + length - 1] != '\n')
        fail(offset, "corrupt pax record at byte " + std::to_string(pos) + " of the extended header");
      const std::string record(reinterpret_cast<const char*>(data) + i + 1, pos + length - 1 - (i + 1));
      const auto eq = record.find('=');
      if (eq == std::string::npos) fail(offset, "corrupt pax record: no '='");
      const std::string key = record.substr(0, eq), value = record.substr(eq + 1);
      if (key == "path") path = value;
      if (key == "size") {
        std::uint64_t v = 0;
        if (value.empty() || value.size() > 19) fail(offset, "corrupt pax size record");
        for (char c : value) {
          if (c < '0' || c > '9') fail(offset, "corrupt pax size record");
          v = v * 10 + std::uint64_t(c - '0');
        }
        has_size = true;
        size_value = v;
      }
      pos += length;
    }
  }

  void parse() {
    ByteReader in(bytes_, source_);
    std::string long_name;  // from a GNU 'L' entry or a pax header, for the next entry only
    bool has_pax_size = false;
    std::uint64_t pax_size = 0;
    for (;;) {
      const std::size_t offset = in.position();
      if (in.remaining() < kBlock) {
        if (in.at_end())
          throw Error(source_, "truncated: the tar archive ends at offset " + std::to_string(offset) +
                                   " without its end-of-archive zero block");
        throw Error(source_, "truncated: " + std::to_string(in.remaining()) + " bytes at offset " +
                                 std::to_string(offset) + " are not a whole 512-byte tar header");
      }
      const std::uint8_t* header = in.take(kBlock, "a tar header");
      bool all_zero = true;
      for (std::size_t i = 0; i < kBlock && all_zero; ++i) all_zero = header[i] == 0;
      if (all_zero) break;  // the end; a second zero block and record padding may follow

      verify_checksum(header, offset);
      std::string name = text(header, kName);
      // The prefix field exists in POSIX ustar only; GNU tar keeps other data at that place.
      if (std::memcmp(header + kMagic.offset, "ustar\0", 6) == 0) {
        const std::string prefix = text(header, kPrefix);
        if (!prefix.empty()) name = prefix + "/" + name;
      }
      if (!long_name.empty()) name = long_name;
      std::uint64_t size = number(header, kSize, "size", offset);
      if (has_pax_size) size = pax_size;
      if (size > in.remaining())
        throw Error(source_, "truncated: tar entry \"" + name + "\" at offset " +
                                 std::to_string(offset) + " declares " + std::to_string(size) +
                                 " bytes, only " + std::to_string(in.remaining()) + " are left");
      const std::uint8_t* data = in.take(std::size_t(size), "tar entry data");
      const std::size_t padding = (kBlock - std::size_t(size) % kBlock) % kBlock;
      if (padding > in.remaining())
        throw Error(source_, "truncated: tar entry \"" + name + "\" at offset " +
                                 std::to_string(offset) + " lacks its block padding");
      in.skip(padding, "tar block padding");

      switch (header[kTypeFlag]) {
        case '0':
        case '\0':
        case '7':  // contiguous file: a regular file to every reader but a few old systems
          // Very old tars marked directories as regular files with a trailing slash.
          if (!name.empty() && name.back() != '/')
            entries_.push_back({name, data, std::size_t(size)});
          break;
        case 'L':  // GNU: the next entry's long name
          long_name = bounded_text(data, std::size_t(size));
          continue;
        case 'x':  // pax: extended attributes of the next entry
          parse_pax(data, std::size_t(size), offset, long_name, has_pax_size, pax_size);
          continue;
        case 'K':  // GNU: the next entry's long link target; it may come before or after 'L'
          continue;
        default:  // directories, links, devices, pax global headers: nothing to list
          break;
      }
      long_name.clear();
      has_pax_size = false;
    }
  }

  std::vector<std::uint8_t> bytes_;
  std::string source_;
  std::vector<TarEntry> entries_;
};

}  // namespace deephash
