#pragma once
// Gzip data (RFC 1952) held in memory: the small dataset files that are best read whole (IDX,
// tar archives read at once). They are decoded by deephash's one gzip decoder, GzipFileReader
// (inflate.hpp, our own RFC 1951 inflater), run over the buffer to the end: member headers,
// deflate data, and each member's CRC-32 and ISIZE are checked exactly as when streaming a file.
// The output grows as bytes arrive, never by a trailer's word, and is bounded: larger data is
// to be streamed.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/data/gzip_header.hpp"
#include "deephash/data/inflate.hpp"

namespace deephash {

// The most decompressed bytes gunzip() holds in memory (all members together); gzip data that
// decompresses to more is refused, and should be streamed (open_byte_stream, TarStream,
// IdxSource) rather than held whole.
inline constexpr std::size_t kMaxGunzipBytes = std::size_t(1) << 30;

// Decompresses gzip data of one or more concatenated members; `source` names it in errors. More
// than `max_bytes` of output is an error.
inline std::vector<std::uint8_t> gunzip(const std::uint8_t* data, std::size_t size,
                                        const std::string& source,
                                        std::size_t max_bytes = kMaxGunzipBytes) {
  GzipFileReader reader(data, size, source);
  std::vector<std::uint8_t> out;
  for (;;) {
    const std::size_t at = out.size();
    if (at == max_bytes) {
      std::uint8_t more = 0;
      if (reader.read(&more, 1) == 0) break;
      throw Error(source, "the gzip data decompresses to more than " + std::to_string(max_bytes) +
                              " bytes, the most gunzip() holds in memory: stream the file instead "
                              "(open_byte_stream, TarStream, IdxSource)");
    }
    // Pieces as large as what arrived so far (64 KiB at first), the capacity doubling but never
    // past the bound: memory follows the bytes that arrive.
    const std::size_t want = std::min(std::max<std::size_t>(64 * 1024, at), max_bytes - at);
    if (at + want > out.capacity()) out.reserve(std::min(max_bytes, std::max(at + want, 2 * out.capacity())));
    out.resize(at + want);
    const std::size_t got = reader.read(out.data() + at, want);
    out.resize(at + got);
    if (got < want) break;
  }
  return out;
}

inline std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& source,
                                        std::size_t max_bytes = kMaxGunzipBytes) {
  return gunzip(bytes.data(), bytes.size(), source, max_bytes);
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
