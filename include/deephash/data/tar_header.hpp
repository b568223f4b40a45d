#pragma once
// Tar member headers (POSIX ustar, pax and GNU), parsed one 512-byte block at a time: shared by
// TarArchive (an archive held in memory) and TarStream (an archive read as a stream), so that
// both accept and refuse exactly the same archives. Every header is checksummed; the caller
// checks each size against the bytes present before it uses it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "deephash/core/error.hpp"

namespace deephash {
namespace detail {

inline constexpr std::size_t kTarBlock = 512;

// Bytes of padding after a member's data, up to the next block.
inline std::size_t tar_padding(std::uint64_t size) {
  return std::size_t((kTarBlock - size % kTarBlock) % kTarBlock);
}

// A member as its header (and any GNU long-name or pax header before it) describes it.
struct TarMember {
  std::string name;
  std::uint64_t size = 0;
  char type = '0';
};

class TarHeaderParser {
 public:
  // The largest GNU long-name or pax header read into memory: such headers hold a path and a
  // few attributes, so anything larger is a corrupt or hostile archive.
  static constexpr std::uint64_t kMaxMetaBytes = 1 << 20;

  explicit TarHeaderParser(std::string source) : source_(std::move(source)) {}

  // Parses the header block at `offset`; false at the end-of-archive zero block.
  bool parse(const std::uint8_t* header, std::uint64_t offset, TarMember& member) {
    bool all_zero = true;
    for (std::size_t i = 0; i < kTarBlock && all_zero; ++i) all_zero = header[i] == 0;
    if (all_zero) return false;  // the end; a second zero block and record padding may follow

    verify_checksum(header, offset);
    std::string name = text(header, kName);
    // The prefix field exists in POSIX ustar only; GNU tar keeps other data at that place.
    if (std::memcmp(header + kMagic.offset, "ustar\0", 6) == 0) {
      const std::string prefix = text(header, kPrefix);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (!long_name_.empty()) name = long_name_;
    member.name = std::move(name);
    member.size = has_pax_size_ ? pax_size_ : number(header, kSize, "size", offset);
    member.type = char(header[kTypeFlag]);
    offset_ = offset;
    return true;
  }

  // Whether the member's data must be handed to take_data (a GNU long name, pax attributes).
  bool needs_data(const TarMember& member) const {
    if (member.type != 'L' && member.type != 'x') return false;
    if (member.size > kMaxMetaBytes)
      fail(offset_, "a " + std::string(member.type == 'L' ? "GNU long-name" : "pax") + " header of " +
                        std::to_string(member.size) + " bytes (more than " + std::to_string(kMaxMetaBytes) +
                        " is not a real one)");
    return true;
  }

  void take_data(const TarMember& member, const std::uint8_t* data, std::size_t size) {
    if (member.type == 'L') long_name_ = bounded_text(data, size);
    if (member.type == 'x') parse_pax(data, size, offset_, long_name_, has_pax_size_, pax_size_);
  }

  // After the member's data: true when it is a regular file to list. The long name and pax
  // size apply to the next entry only.
  bool finish(const TarMember& member) {
    switch (member.type) {
      case 'L':  // GNU: the next entry's long name
      case 'x':  // pax: extended attributes of the next entry
      case 'K':  // GNU: the next entry's long link target; it may come before or after 'L'
        return false;
      default:
        break;
    }
    long_name_.clear();
    has_pax_size_ = false;
    // '7' is a contiguous file: a regular file to every reader but a few old systems. Very old
    // tars marked directories as regular files with a trailing slash. Directories, links,
    // devices, pax global headers: nothing to list.
    const bool regular = member.type == '0' || member.type == '\0' || member.type == '7';
    return regular && !member.name.empty() && member.name.back() != '/';
  }

 private:
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

  [[noreturn]] void fail(std::uint64_t offset, const std::string& problem) const {
    throw Error(source_, "tar header at offset " + std::to_string(offset) + ": " + problem);
  }

  // A numeric field: octal digits (space- or NUL-terminated, leading spaces allowed), or GNU's
  // base-256 for values too large for octal (first byte's high bit set).
  std::uint64_t number(const std::uint8_t* header, Field f, const char* what, std::uint64_t offset,
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

  void verify_checksum(const std::uint8_t* header, std::uint64_t offset) const {
    const std::uint64_t stored = number(header, kChecksum, "checksum", offset, /*base256_allowed=*/false);
    // The sum is taken with the checksum field read as spaces. Some old tars summed signed
    // bytes; both are accepted, as GNU tar does.
    std::uint64_t unsigned_sum = 0;
    std::int64_t signed_sum = 0;
    for (std::size_t i = 0; i < kTarBlock; ++i) {
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
  void parse_pax(const std::uint8_t* data, std::size_t size, std::uint64_t offset, std::string& path,
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

  std::string source_;
  std::string long_name_;  // from a GNU 'L' entry or a pax header, for the next entry only
  bool has_pax_size_ = false;
  std::uint64_t pax_size_ = 0;
  std::uint64_t offset_ = 0;  // of the header parsed last, for errors
};

}  // namespace detail
}  // namespace deephash
