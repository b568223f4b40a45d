#pragma once
// Packed binary codes, the currency of deephash.
//
// Layout (what users see, like FAISS's byte codes but in 64-bit words): n codes, row-major, each
// code `words_per_code() = ceil(bits / 64)` uint64 words. Bit j of a code is bit (j % 64),
// counted from the least significant, of word (j / 64). Bits past `bits` are always zero, so two
// codes can be compared word by word.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash {

using idx_t = std::int64_t;  // database ids and counts, as in FAISS

inline constexpr int kMaxCodeBits = 4096;

constexpr int words_for_bits(int bits) { return (bits + 63) / 64; }

// Mask of the valid bits in the last word of a `bits`-bit code.
constexpr std::uint64_t last_word_mask(int bits) {
  return bits % 64 == 0 ? ~std::uint64_t(0) : (std::uint64_t(1) << (bits % 64)) - 1;
}

inline void check_code_bits(int bits, const std::string& source) {
  if (bits < 1 || bits > kMaxCodeBits)
    throw Error(source, "code length must be between 1 and " + std::to_string(kMaxCodeBits) +
                            " bits, got " + std::to_string(bits));
}

class BitCodes {
 public:
  BitCodes() = default;
  // n all-zero codes of `bits` bits.
  BitCodes(std::size_t n, int bits) : n_(n), bits_(bits) {
    check_code_bits(bits, "BitCodes");
    words_.assign(n * std::size_t(words_for_bits(bits)), 0);
  }

  // Copies n row-major codes; bits past `bits` in each code are cleared.
  static BitCodes from_words(std::size_t n, int bits, const std::uint64_t* words) {
    BitCodes codes(n, bits);
    const int w = codes.words_per_code();
    const std::uint64_t mask = last_word_mask(bits);
    for (std::size_t i = 0; i < n; ++i)
      for (int j = 0; j < w; ++j)
        codes.words_[i * w + j] = words[i * w + j] & (j == w - 1 ? mask : ~std::uint64_t(0));
    return codes;
  }

  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int bits() const { return bits_; }
  int words_per_code() const { return words_for_bits(bits_); }

  const std::uint64_t* data() const { return words_.data(); }
  std::uint64_t* data() { return words_.data(); }
  const std::uint64_t* code(std::size_t i) const { return words_.data() + i * words_per_code(); }
  std::uint64_t* code(std::size_t i) { return words_.data() + i * words_per_code(); }

  bool bit(std::size_t i, int j) const { return (code(i)[j / 64] >> (j % 64)) & 1u; }
  void set_bit(std::size_t i, int j, bool value) {
    const std::uint64_t m = std::uint64_t(1) << (j % 64);
    std::uint64_t& word = code(i)[j / 64];
    word = value ? (word | m) : (word & ~m);
  }

  // Appends the codes of `other`, which must have the same length.
  void append(const BitCodes& other) {
    if (other.bits_ != bits_)
      throw Error("BitCodes::append", "code lengths differ: " + std::to_string(bits_) + " and " +
                                          std::to_string(other.bits_) + " bits");
    words_.insert(words_.end(), other.words_.begin(), other.words_.end());
    n_ += other.n_;
  }

  // The codes at the given positions, in that order.
  BitCodes select(const std::vector<idx_t>& rows) const {
    BitCodes out(rows.size(), bits_);
    const int w = words_per_code();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (rows[r] < 0 || std::size_t(rows[r]) >= n_)
        throw Error("BitCodes::select", "row " + std::to_string(rows[r]) + " is out of range for " +
                                            std::to_string(n_) + " codes");
      std::copy(code(std::size_t(rows[r])), code(std::size_t(rows[r])) + w, out.code(r));
    }
    return out;
  }

  // Rows [begin, end).
  BitCodes slice(std::size_t begin, std::size_t end) const {
    if (begin > end || end > n_)
      throw Error("BitCodes::slice", "range [" + std::to_string(begin) + ", " +
                                         std::to_string(end) + ") is out of range for " +
                                         std::to_string(n_) + " codes");
    return from_words(end - begin, bits_, code(begin));
  }

  // Bits first .. first + count of every code, as codes of `count` bits: one model's codes out of
  // the codes of several models' latent units side by side (workflow/shared_network.hpp).
  BitCodes bit_columns(int first, int count) const {
    if (first < 0 || count <= 0 || first + count > bits_)
      throw Error("BitCodes::bit_columns", "bits [" + std::to_string(first) + ", " + std::to_string(first + count) +
                                               ") are out of range for codes of " + std::to_string(bits_) + " bits");
    BitCodes out(n_, count);
    for (std::size_t i = 0; i < n_; ++i)
      for (int j = 0; j < count; ++j)
        if (bit(i, first + j)) out.set_bit(i, j, true);
    return out;
  }

  friend bool operator==(const BitCodes& a, const BitCodes& b) {
    return a.n_ == b.n_ && a.bits_ == b.bits_ && a.words_ == b.words_;
  }
  friend bool operator!=(const BitCodes& a, const BitCodes& b) { return !(a == b); }

 private:
  std::size_t n_ = 0;
  int bits_ = 0;
  std::vector<std::uint64_t> words_;
};

// Throws if two sets of codes cannot be compared with each other.
inline void check_same_bits(int expected, int actual, const std::string& source) {
  if (expected != actual)
    throw Error(source, "code lengths differ: expected " + std::to_string(expected) +
                            "-bit codes, got " + std::to_string(actual) + "-bit codes");
}

}  // namespace deephash
