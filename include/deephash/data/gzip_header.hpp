#pragma once
// The member header of gzip data (RFC 1952), parsed with every field bounds-checked, and the
// small helpers that the inflater (inflate.hpp) and the in-memory gunzip (gzip.hpp) share. A
// header of its own so that inflate.hpp, which gzip.hpp builds on, can include it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/checksum.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

namespace detail {

inline constexpr std::size_t kGzipFixedHeaderBytes = 10;
inline constexpr std::size_t kGzipTrailerBytes = 8;  // CRC32, then ISIZE, both little-endian

enum GzipFlag : std::uint8_t {
  kGzipText = 1,  // FTEXT: a hint only
  kGzipHeaderCrc = 2,
  kGzipExtra = 4,
  kGzipName = 8,
  kGzipComment = 16,
  kGzipReservedFlags = 0xE0,  // RFC 1952: a decoder must refuse these
};

inline bool looks_gzip_magic(const std::uint8_t* p, std::size_t n) {
  return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

inline std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}

inline std::string gzip_member_suffix(int member) {
  return member == 1 ? std::string() : " (gzip member " + std::to_string(member) + ")";
}

inline std::string hex32(std::uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (int i = 9; i >= 2; --i, v >>= 4) s[std::size_t(i)] = digits[v & 15];
  return s;
}

// Parses the header of gzip member number `member` (1 for the first) at `offset`; returns the
// offset where its deflate data starts. `base` is the offset of data[0] in the file, so that
// messages give file offsets when only part of the file is in `data`.
inline std::size_t parse_gzip_header(const std::uint8_t* data, std::size_t size, std::size_t offset,
                                     int member, const std::string& source, std::uint64_t base = 0) {
  ByteReader in(data, size, source);
  in.skip(offset, "gzip member");
  auto at = [&](std::size_t pos) { return std::to_string(base + pos); };
  // After a member, the file must end or another member start: bytes that do not even begin
  // with gzip's magic are reported as what they are, not as a truncated header.
  const std::size_t left = size - offset;
  if (member > 1 && left > 0 && (data[offset] != 0x1f || (left > 1 && data[offset + 1] != 0x8b)))
    throw Error(source, "unexpected bytes at offset " + at(offset) + " after gzip member " +
                            std::to_string(member - 1) +
                            ": neither the end of the file nor another gzip member");
  auto need = [&](std::size_t n, const char* field) {
    if (n > in.remaining())
      throw Error(source, std::string("truncated gzip header") + gzip_member_suffix(member) + ": " +
                              field + " needs " + std::to_string(n) + " bytes at offset " +
                              at(in.position()) + ", only " + std::to_string(in.remaining()) +
                              " left");
  };
  auto skip_zero_terminated = [&](const char* field) {
    const std::uint8_t* p = in.take(0, field);
    const void* end = std::memchr(p, 0, in.remaining());
    if (end == nullptr)
      throw Error(source, std::string("truncated gzip header") + gzip_member_suffix(member) + ": " +
                              field + " at offset " + at(in.position()) +
                              " has no terminating zero byte");
    in.skip(std::size_t(static_cast<const std::uint8_t*>(end) - p) + 1, field);
  };

  need(kGzipFixedHeaderBytes, "the fixed header");
  const std::uint8_t* fixed = in.take(kGzipFixedHeaderBytes, "the fixed header");
  if (fixed[0] != 0x1f || fixed[1] != 0x8b) throw Error(source, "not a gzip file: bad magic bytes");
  if (fixed[2] != 8)
    throw Error(source, "unsupported gzip compression method " + std::to_string(fixed[2]) +
                            gzip_member_suffix(member) + " (only 8, deflate, exists)");
  const std::uint8_t flags = fixed[3];
  if (flags & kGzipReservedFlags)
    throw Error(source, "corrupt gzip header" + gzip_member_suffix(member) +
                            ": reserved flag bits are set");
  if (flags & kGzipExtra) {
    need(2, "the extra field length");
    const auto extra_bytes = in.read<std::uint16_t>("the extra field length");
    need(extra_bytes, "the extra field");
    in.skip(extra_bytes, "the extra field");
  }
  if (flags & kGzipName) skip_zero_terminated("the file name");
  if (flags & kGzipComment) skip_zero_terminated("the comment");
  if (flags & kGzipHeaderCrc) {
    // The header CRC covers every header byte before it: the low 16 bits of their CRC-32.
    const std::uint32_t computed = crc32(data + offset, in.position() - offset) & 0xFFFFu;
    need(2, "the header CRC");
    const auto stored = in.read<std::uint16_t>("the header CRC");
    if (stored != computed)
      throw Error(source, "gzip header CRC mismatch" + gzip_member_suffix(member) +
                              ": the file is corrupted");
  }
  return in.position();
}

}  // namespace detail

}  // namespace deephash
