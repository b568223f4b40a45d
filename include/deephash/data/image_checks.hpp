#pragma once
// Structural checks of encoded images before stb_image sees them. stb_image (2.27 in Debian 12)
// trusts several fields of a file: fuzzing it found PNG chunk lengths it allocates from before
// seeing the bytes, and JPEG Huffman tables that make it write past its own arrays. Each check
// here refuses such a file with an error naming the field, so the decoder only ever sees files
// whose tables and lengths are consistent.

#include <cstddef>
#include <cstdint>
#include <string>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"

namespace deephash::detail {

// Every chunk's declared length must fit in the file (a 73-byte file made stb_image allocate 600 MB).
inline void check_png_chunks(const std::uint8_t* bytes, std::size_t size, const std::string& source) {
  std::size_t at = 8;  // past the signature
  while (at + 8 <= size) {
    const std::uint32_t length = read_be32(bytes + at);
    const std::string type(reinterpret_cast<const char*>(bytes + at + 4), 4);
    if (length > size - at - 8 || size - at - 8 - length < 4)
      throw Error(source, "corrupt or truncated PNG: chunk '" + type + "' at offset " + std::to_string(at) + " declares " +
                              std::to_string(length) + " bytes, but only " + std::to_string(size - at - 8) +
                              " follow its header");
    if (type == "IEND") return;
    at += 12 + std::size_t(length);
  }
}

// A DHT segment (ITU T.81, B.2.4.2): tables of class (0 = DC, 1 = AC) and slot 0-3, each with 16
// code counts and then the values. More than 256 codes overruns stb_image's tables, and a DC
// value is a bit count for the next coefficient, so above 15 it shifts past a 32-bit word.
inline void check_jpeg_huffman_tables(const std::uint8_t* segment, std::size_t length, std::size_t offset,
                                      const std::string& source) {
  const auto corrupt = [&](const std::string& what) {
    return Error(source, "corrupt JPEG: the Huffman table segment at offset " + std::to_string(offset) + " " + what);
  };
  std::size_t at = 0;
  while (at < length) {
    const int table_class = segment[at] >> 4, slot = segment[at] & 15;
    if (table_class > 1 || slot > 3)
      throw corrupt("names table class " + std::to_string(table_class) + " slot " + std::to_string(slot) +
                    " (classes are 0-1, slots 0-3)");
    if (length - at < 17) throw corrupt("ends inside a table's code counts");
    std::size_t codes = 0;
    for (int i = 1; i <= 16; ++i) codes += segment[at + i];
    if (codes > 256) throw corrupt("declares " + std::to_string(codes) + " codes in one table (at most 256)");
    if (length - at - 17 < codes) throw corrupt("ends inside a table's values");
    if (table_class == 0)
      for (std::size_t i = 0; i < codes; ++i)
        if (segment[at + 17 + i] > 15)
          throw corrupt("holds the DC value " + std::to_string(segment[at + 17 + i]) + " (bit counts are 0-15)");
    at += 17 + codes;
  }
}

// Walks the segments of a JPEG file (ITU T.81, annex B): every length must fit in the file and
// every Huffman table must be well formed, in baseline and progressive files alike (the latter
// define tables between scans, so the entropy-coded data after each scan header is skipped to
// the next marker). The walk ends at EOI or where a truncated file ends.
inline void check_jpeg_segments(const std::uint8_t* bytes, std::size_t size, const std::string& source) {
  const auto is_restart = [](std::uint8_t marker) { return marker >= 0xD0 && marker <= 0xD7; };
  std::size_t at = 2;  // past SOI
  while (at + 1 < size) {
    // stb_image skips stray bytes between segments and fill bytes before a marker; so must the check.
    if (bytes[at] != 0xFF || bytes[at + 1] == 0xFF) {
      ++at;
      continue;
    }
    const std::uint8_t marker = bytes[at + 1];
    if (marker == 0xD9) return;  // EOI
    if (marker == 0x01 || marker == 0xD8 || is_restart(marker)) {  // TEM, SOI, RSTn: no length
      at += 2;
      continue;
    }
    if (at + 4 > size) return;
    const std::size_t length = std::size_t(bytes[at + 2]) << 8 | bytes[at + 3];
    if (length < 2 || length > size - at - 2)
      throw Error(source, "corrupt or truncated JPEG: the segment of marker " + hex_byte(marker) + " at offset " +
                              std::to_string(at) + " declares " + std::to_string(length) + " bytes, but only " +
                              std::to_string(size - at - 2) + " follow");
    if (marker == 0xC4) check_jpeg_huffman_tables(bytes + at + 4, length - 2, at, source);
    at += 2 + length;
    if (marker == 0xDA) {  // entropy-coded data up to the next marker that is not a stuffed 0xFF00 or RSTn
      while (at + 1 < size &&
             !(bytes[at] == 0xFF && bytes[at + 1] != 0x00 && !is_restart(bytes[at + 1])))
        ++at;
    }
  }
}

}  // namespace deephash::detail
