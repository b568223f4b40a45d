#pragma once
// Reading gzip files (RFC 1952), the packaging of most public datasets. The member headers are
// parsed here, every field bounds-checked; the deflate data is inflated by stb_image's zlib
// decoder into a buffer sized from the member trailer, after checking that size is possible,
// and the result is checked against the trailer's length and CRC-32.

#include <stb_image.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/checksum.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

// The largest uncompressed member accepted. stb's decoder counts bytes in an int, and a dataset
// file beyond this should be streamed rather than held in memory.
inline constexpr std::size_t kMaxGzipMemberBytes = std::size_t(1) << 30;

// Deflate cannot expand more than this (a 258-byte match coded in 2 bits, plus block overhead),
// so a trailer claiming more is corrupt, and we never allocate on its word alone.
inline constexpr std::size_t kDeflateMaxRatio = 1032;

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

inline bool starts_gzip_member(const std::uint8_t* p, std::size_t n) {
  return n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8;
}

inline std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}

inline std::string gzip_member_suffix(int member) {
  return member == 1 ? std::string() : " (gzip member " + std::to_string(member) + ")";
}

// Parses the member header at `offset`; returns the offset where its deflate data starts.
inline std::size_t parse_gzip_header(const std::uint8_t* data, std::size_t size, std::size_t offset,
                                     int member, const std::string& source) {
  ByteReader in(data, size, source);
  in.skip(offset, "gzip member");
  auto need = [&](std::size_t n, const char* field) {
    if (n > in.remaining())
      throw Error(source, std::string("truncated gzip header") + gzip_member_suffix(member) + ": " +
                              field + " needs " + std::to_string(n) + " bytes at offset " +
                              std::to_string(in.position()) + ", only " +
                              std::to_string(in.remaining()) + " left");
  };
  auto skip_zero_terminated = [&](const char* field) {
    const std::uint8_t* p = in.take(0, field);
    const void* end = std::memchr(p, 0, in.remaining());
    if (end == nullptr)
      throw Error(source, std::string("truncated gzip header") + gzip_member_suffix(member) + ": " +
                              field + " at offset " + std::to_string(in.position()) +
                              " has no terminating zero byte");
    in.skip(std::size_t(static_cast<const std::uint8_t*>(end) - p) + 1, field);
  };

  need(kGzipFixedHeaderBytes, "the fixed header");
  const std::uint8_t* fixed = in.take(kGzipFixedHeaderBytes, "the fixed header");
  if (fixed[0] != 0x1f || fixed[1] != 0x8b) {
    if (member == 1) throw Error(source, "not a gzip file: bad magic bytes");
    throw Error(source, "unexpected bytes at offset " + std::to_string(offset) +
                            " after gzip member " + std::to_string(member - 1) +
                            ": neither the end of the file nor another gzip member");
  }
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

inline std::string hex32(std::uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (int i = 9; i >= 2; --i, v >>= 4) s[std::size_t(i)] = digits[v & 15];
  return s;
}

// Inflates the member whose deflate data starts at `begin`, appends its bytes to `out`, and
// returns the offset just past its trailer.
//
// stb decodes until the final deflate block and ignores what follows, but does not say how many
// input bytes that took, so the member's end is not known up front. The trailer can only be at
// the end of the data or just before another member header; those places are tried in order,
// and the right one is the one whose ISIZE and CRC-32 agree with the decoded bytes. The decode
// always gets all the remaining input, so it is the same for every candidate whose ISIZE leaves
// room for it: it runs once, and later candidates are compared against its result.
inline std::size_t inflate_gzip_member(const std::uint8_t* data, std::size_t size,
                                       std::size_t begin, int member, const std::string& source,
                                       std::vector<std::uint8_t>& out) {
  const std::string suffix = gzip_member_suffix(member);
  if (size - begin < kGzipTrailerBytes)
    throw Error(source, "truncated gzip data" + suffix + ": only " + std::to_string(size - begin) +
                            " bytes follow the header, not even the 8-byte trailer");
  const int input_bytes = static_cast<int>(std::min<std::size_t>(size - begin, INT_MAX));

  std::unique_ptr<std::uint8_t[]> decoded;  // set by the first decode that had room for it all
  std::size_t decoded_size = 0;
  std::uint32_t decoded_crc = 0;
  std::size_t known_longer_than = 0;  // the decoded data is known to exceed this many bytes...
  bool known_longer = false;          // ...when this is set

  // Returns an empty string when the trailer at `at` belongs to this member, else why not.
  auto check_trailer = [&](std::size_t at) -> std::string {
    const std::uint32_t stored_crc = load_le32(data + at);
    const std::size_t isize = load_le32(data + at + 4);
    const std::size_t compressed = at - begin;
    if (isize > kMaxGzipMemberBytes)
      return "the gzip trailer declares an uncompressed size (ISIZE) of " + std::to_string(isize) +
             " bytes, above the limit of " + std::to_string(kMaxGzipMemberBytes) +
             " per member: the file is truncated or corrupted, or too large to hold in memory";
    if (isize > kDeflateMaxRatio * compressed)
      return "the gzip trailer declares an uncompressed size (ISIZE) of " + std::to_string(isize) +
             " bytes from " + std::to_string(compressed) +
             " compressed bytes, beyond deflate's maximum ratio of 1032:1: the file is truncated "
             "or corrupted";
    if (!decoded) {
      if (known_longer && isize <= known_longer_than)
        return "the deflate data decodes to more than the " + std::to_string(isize) +
               " bytes the gzip trailer's ISIZE declares: the file is truncated or corrupted";
      // After a decode ran out of room, the next one at least doubles the room, so that many
      // candidate trailers with slowly growing sizes cannot make the work quadratic.
      std::size_t capacity = isize;
      if (known_longer)
        capacity = std::max(isize, std::min({2 * known_longer_than + 1, kMaxGzipMemberBytes,
                                             kDeflateMaxRatio * (size - begin)}));
      // Not value-initialised: pages the decoder never writes are never touched.
      std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[std::max<std::size_t>(capacity, 1)]);
      const int n = stbi_zlib_decode_noheader_buffer(reinterpret_cast<char*>(buffer.get()),
                                                     static_cast<int>(capacity),
                                                     reinterpret_cast<const char*>(data + begin),
                                                     input_bytes);
      if (n < 0) {
        const char* why = stbi_failure_reason();
        const std::string reason = why ? why : "unknown error";
        if (reason == "output buffer limit") {
          known_longer = true;
          known_longer_than = std::max(known_longer_than, capacity);
          return "the deflate data decodes to more than the " + std::to_string(isize) +
                 " bytes the gzip trailer's ISIZE declares: the file is truncated or corrupted";
        }
        // A decode error happens before the output fills, so no other trailer could help.
        throw Error(source, "corrupt deflate data" + suffix + " (" + reason +
                                "): the file is truncated or corrupted");
      }
      decoded = std::move(buffer);
      decoded_size = static_cast<std::size_t>(n);
      decoded_crc = crc32(decoded.get(), decoded_size);
    }
    if (decoded_size != isize)
      return "the deflate data decodes to " + std::to_string(decoded_size) +
             " bytes but the gzip trailer's ISIZE declares " + std::to_string(isize) +
             ": the file is truncated or corrupted";
    if (decoded_crc != stored_crc)
      return "CRC mismatch: the file is corrupted (the gzip trailer says " + hex32(stored_crc) +
             ", the data gives " + hex32(decoded_crc) + ")";
    return std::string();
  };

  auto accept = [&](std::size_t at) {
    out.insert(out.end(), decoded.get(), decoded.get() + decoded_size);
    return at + kGzipTrailerBytes;
  };

  // A CRC mismatch at a place where the length fitted says more than a later length mismatch.
  std::string crc_failure;
  const std::size_t last = size - kGzipTrailerBytes;
  for (std::size_t at = begin; at < last;) {
    const void* hit = std::memchr(data + at + kGzipTrailerBytes, 0x1f, last - at);
    if (hit == nullptr) break;
    at = std::size_t(static_cast<const std::uint8_t*>(hit) - data) - kGzipTrailerBytes;
    const std::uint8_t* next = data + at + kGzipTrailerBytes;
    const std::size_t next_size = size - at - kGzipTrailerBytes;
    if (starts_gzip_member(next, next_size) && (next_size < 4 || !(next[3] & kGzipReservedFlags))) {
      const std::string why = check_trailer(at);
      if (why.empty()) return accept(at);
      if (crc_failure.empty() && why.rfind("CRC", 0) == 0) crc_failure = why;
    }
    ++at;
  }
  const std::string why = check_trailer(last);
  if (!why.empty()) throw Error(source, (crc_failure.empty() ? why : crc_failure) + suffix);
  // The same trailer bytes earlier on mean the member ended there and what follows is neither
  // a member nor the end: a damaged second copy of the member, say, which must not pass
  // silently. (The deflate data holding its own trailer by chance is out of the question.)
  const std::uint8_t* trailer = data + last;
  const std::uint8_t* earlier = std::search(data + begin, data + last, trailer, trailer + kGzipTrailerBytes);
  if (earlier != data + last) {
    const std::size_t after = std::size_t(earlier - data) + kGzipTrailerBytes;
    // A damaged member header gets its own, more telling, error.
    if (looks_gzip_magic(data + after, size - after))
      parse_gzip_header(data, size, after, member + 1, source);
    throw Error(source, "unexpected bytes at offset " + std::to_string(after) + " after gzip member " +
                            std::to_string(member) + ": neither the end of the file nor another gzip member");
  }
  return accept(last);
}

}  // namespace detail

// Decompresses gzip data of one or more concatenated members; `source` names it in errors.
inline std::vector<std::uint8_t> gunzip(const std::uint8_t* data, std::size_t size,
                                        const std::string& source) {
  std::vector<std::uint8_t> out;
  std::size_t offset = 0;
  int member = 1;
  do {
    const std::size_t deflate_begin = detail::parse_gzip_header(data, size, offset, member, source);
    offset = detail::inflate_gzip_member(data, size, deflate_begin, member, source, out);
    ++member;
  } while (offset < size);
  return out;
}

inline std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes,
                                        const std::string& source) {
  return gunzip(bytes.data(), bytes.size(), source);
}

// True when the bytes start like gzip data (its two magic bytes).
inline bool looks_gzipped(const std::uint8_t* data, std::size_t size) {
  return detail::looks_gzip_magic(data, size);
}

// The bytes decompressed when they are gzip data, else as they are; `source` names them in errors.
inline std::vector<std::uint8_t> maybe_gunzip(std::vector<std::uint8_t> bytes, const std::string& source) {
  if (looks_gzipped(bytes.data(), bytes.size())) return gunzip(bytes, source);
  return bytes;
}

// A file's bytes, decompressed when it is gzip data (whatever its name), else as they are.
inline std::vector<std::uint8_t> read_file_maybe_gzip(const std::string& path) {
  return maybe_gunzip(read_file_bytes(path), path);
}

}  // namespace deephash
