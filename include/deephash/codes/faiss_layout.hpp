#pragma once
// Conversion to and from FAISS's binary code layout: ceil(bits / 8) bytes per code, bit j in byte
// j / 8 at position j % 8 (least significant first). On a little-endian machine this is exactly
// the byte image of deephash's words, truncated to whole bytes, so codes move between the two
// libraries without reordering any bit.

#include <cstdint>
#include <cstring>
#include <vector>

#include "deephash/codes/bit_codes.hpp"

namespace deephash {

constexpr int faiss_code_size(int bits) { return (bits + 7) / 8; }

inline std::vector<std::uint8_t> to_faiss_bytes(const BitCodes& codes) {
  const std::size_t cs = std::size_t(faiss_code_size(codes.bits()));
  std::vector<std::uint8_t> bytes(codes.size() * cs);
  for (std::size_t i = 0; i < codes.size(); ++i) std::memcpy(&bytes[i * cs], codes.code(i), cs);
  return bytes;
}

// `bytes` holds n codes of faiss_code_size(bits) bytes each; bits past `bits` are ignored.
inline BitCodes from_faiss_bytes(const std::uint8_t* bytes, std::size_t n, int bits) {
  BitCodes codes(n, bits);
  const std::size_t cs = std::size_t(faiss_code_size(bits));
  const std::uint64_t mask = last_word_mask(bits);
  const int w = codes.words_per_code();
  for (std::size_t i = 0; i < n; ++i) {
    std::memcpy(codes.code(i), bytes + i * cs, cs);
    codes.code(i)[w - 1] &= mask;
  }
  return codes;
}

}  // namespace deephash
