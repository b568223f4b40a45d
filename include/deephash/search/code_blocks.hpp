#pragma once
// The index's search layout. Codes are interleaved in blocks of kBlockCodes: within a block, word
// w of its 16 codes is stored contiguously, so a single aligned register load takes the same word
// of 8 (AVX-512), 4 (AVX2) or 2 (SSE) consecutive codes. The last block is zero-padded.
//
//   block b, word w, code c (0 <= c < 16)  ->  data[(b * words + w) * 16 + c]
//
// Users never see this layout: codes go in and come out row-major (see BitCodes).

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/aligned_buffer.hpp"

namespace deephash {

inline constexpr std::size_t kBlockCodes = 16;

class CodeBlocks {
 public:
  explicit CodeBlocks(int bits = 64) : bits_(bits), words_(words_for_bits(bits)) {}

  int bits() const { return bits_; }
  int words() const { return words_; }
  std::size_t size() const { return n_; }
  std::size_t num_blocks() const { return (n_ + kBlockCodes - 1) / kBlockCodes; }
  std::size_t words_per_block() const { return std::size_t(words_) * kBlockCodes; }

  const std::uint64_t* block(std::size_t b) const { return data_.data() + b * words_per_block(); }

  // Appends n row-major codes; bits past `bits` are cleared.
  void append(const std::uint64_t* rows, std::size_t n) {
    const std::size_t total = n_ + n;
    data_.resize(((total + kBlockCodes - 1) / kBlockCodes) * words_per_block(), 0);
    const std::uint64_t mask = last_word_mask(bits_);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t id = n_ + i;
      std::uint64_t* dst = data_.data() + (id / kBlockCodes) * words_per_block() + id % kBlockCodes;
      const std::uint64_t* src = rows + i * std::size_t(words_);
      for (int w = 0; w < words_; ++w)
        dst[std::size_t(w) * kBlockCodes] = src[w] & (w == words_ - 1 ? mask : ~std::uint64_t(0));
    }
    n_ = total;
  }

  // Code `id`, row-major, into out[0 .. words).
  void copy_code(std::size_t id, std::uint64_t* out) const {
    const std::uint64_t* src = data_.data() + (id / kBlockCodes) * words_per_block() + id % kBlockCodes;
    for (int w = 0; w < words_; ++w) out[w] = src[std::size_t(w) * kBlockCodes];
  }

  void clear() {
    data_.clear();
    n_ = 0;
  }

  std::size_t memory_bytes() const { return data_.capacity() * sizeof(std::uint64_t); }

 private:
  int bits_;
  int words_;
  std::size_t n_ = 0;
  AlignedVector<std::uint64_t> data_;
};

}  // namespace deephash
