#pragma once
// Matrix products with bfloat16 inputs and float accumulation, for training on CPUs with
// AVX-512 BF16 (VDPBF16PS: 16 lanes, each adding two bf16 x bf16 products to a float sum, twice
// the multiplications per instruction of a float FMA):
//
//     C (+)= op(A) op(B),   op(A): rows x depth,  op(B): depth x cols,   all float in memory.
//
// The operands are rounded to bfloat16 (nearest, ties to even) as they are packed; products and
// sums are float, so the result differs from the float product by the rounding of the inputs
// only (a relative 2^-9 per factor), as in mixed-precision training on GPUs. The weights the
// solver updates stay float. Where the instruction is missing (or for double) `available()` is
// false and callers keep their float products.
//
// The kernel wants both operands as pairs along the depth: for each row of op(A) and each pair
// of depths (2p, 2p + 1) one 32-bit word holding the two bf16 values (the even one in the low
// half), and the same for each column of op(B). op(B) is packed into panels of kPanel columns,
// each panel a contiguous (depth pairs x kPanel) array, so that a panel stays in cache while
// every block of kRows rows of op(A) passes over it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "deephash/core/aligned_buffer.hpp"

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define DEEPHASH_BF16_PRODUCTS 1
#else
#define DEEPHASH_BF16_PRODUCTS 0
#endif

namespace deephash::nn::bf16 {

// Whether this build can run the products (compiled for a CPU with AVX-512 BF16).
constexpr bool available() { return DEEPHASH_BF16_PRODUCTS != 0; }

// The float nearest to x in bfloat16 (ties to even; NaN stays NaN): what the products see of x.
inline float round_to_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u |= 0x00400000u;  // quiet NaN, kept NaN by the truncation below
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
  }
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// A float matrix in memory: element (i, j) at data[i * stride + j], or, transposed, at
// data[j * stride + i]. `rows` x `cols` is its shape as the product reads it (after transposing).
struct Operand {
  const float* data;
  std::ptrdiff_t stride;
  bool transposed = false;
  float at(std::ptrdiff_t i, std::ptrdiff_t j) const { return transposed ? data[j * stride + i] : data[i * stride + j]; }
};

// op(A) packed as depth pairs: words[row * pairs + p]. Packed once, it serves every product
// with the same left factor (a layer's weights over all the blocks of a batch).
struct PackedRows {
  AlignedVector<std::uint32_t> words;
  std::ptrdiff_t rows = 0, depth = 0;
  std::ptrdiff_t pairs() const { return (depth + 1) / 2; }
};

// Packing buffers, reused between calls (one per thread).
struct Workspace {
  PackedRows a;
  AlignedVector<std::uint32_t> b, rows;  // op(B)'s panels; rows of a transposed op(B)
};

constexpr int kRows = 8;            // rows of C per kernel call
constexpr int kVectors = 3;         // 16-column vectors of C per kernel call
constexpr int kPanel = 16 * kVectors;

#if DEEPHASH_BF16_PRODUCTS
namespace detail {

// Two float vectors (depth 2p and 2p + 1 of 16 columns) as 16 words of bf16 pairs.
inline __m512i pair_words(__m512 even, __m512 odd) {
  const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(even));
  const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(odd));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

// Up to 16 consecutive floats (zero past `n`).
inline __m512 load_floats(const float* p, std::ptrdiff_t n) {
  if (n >= 16) return _mm512_loadu_ps(p);
  return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
}

// A row of `depth` consecutive floats as depth pairs (the last pair's odd half zero if depth is odd).
inline void pack_contiguous_row(const float* x, std::ptrdiff_t depth, std::uint32_t* words) {
  for (std::ptrdiff_t k = 0; k < depth; k += 32) {
    const __m512 lo = load_floats(x + k, depth - k);
    const __m512 hi = depth - k > 16 ? load_floats(x + k + 16, depth - k - 16) : _mm512_setzero_ps();
    const __m512i w = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // bf16 of x[k .. k + 31], in order
    const std::ptrdiff_t pairs = std::min<std::ptrdiff_t>(16, (depth - k + 1) / 2);
    _mm512_mask_storeu_epi32(words + k / 2, __mmask16((1u << pairs) - 1), w);
  }
}

// 16 columns of two rows (depths 2p, 2p + 1; `odd` null past the depth) as 16 pair words.
inline void pack_two_rows(const float* even, const float* odd, std::ptrdiff_t n, std::uint32_t* words) {
  const __m512 e = load_floats(even, n), o = odd ? load_floats(odd, n) : _mm512_setzero_ps();
  _mm512_storeu_si512(words, pair_words(e, o));
}

// op(A) as words[row * pairs + p].
inline void pack_a(const Operand& a, std::ptrdiff_t rows, std::ptrdiff_t depth, std::uint32_t* words) {
  const std::ptrdiff_t pairs = (depth + 1) / 2;
  if (!a.transposed) {
    for (std::ptrdiff_t i = 0; i < rows; ++i) pack_contiguous_row(a.data + i * a.stride, depth, words + i * pairs);
    return;
  }
  // Transposed: row i of op(A) is column i in memory; depths 2p, 2p + 1 are two memory rows.
  alignas(64) std::uint32_t block[16];
  for (std::ptrdiff_t p = 0; p < pairs; ++p) {
    const float* even = a.data + 2 * p * a.stride;
    const float* odd = 2 * p + 1 < depth ? even + a.stride : nullptr;
    for (std::ptrdiff_t i = 0; i < rows; i += 16) {
      const std::ptrdiff_t n = std::min<std::ptrdiff_t>(16, rows - i);
      pack_two_rows(even + i, odd ? odd + i : nullptr, n, block);
      for (std::ptrdiff_t r = 0; r < n; ++r) words[(i + r) * pairs + p] = block[r];
    }
  }
}

// op(B) as panels of kPanel columns: words[(panel * pairs + p) * kPanel + column in panel], the
// columns past `cols` zero.
inline void pack_b(const Operand& b, std::ptrdiff_t depth, std::ptrdiff_t cols, std::uint32_t* words,
                   AlignedVector<std::uint32_t>& scratch) {
  const std::ptrdiff_t pairs = (depth + 1) / 2, panels = (cols + kPanel - 1) / kPanel;
  // Every 16-column group up to `cols` is written whole (zeros past `cols`); the groups of a last,
  // partial panel past that are zeroed here.
  if (cols % kPanel) std::memset(words + (panels - 1) * pairs * kPanel, 0, std::size_t(pairs * kPanel) * 4);
  if (!b.transposed) {  // depths are memory rows: interleave two rows, 16 columns at a time
    for (std::ptrdiff_t p = 0; p < pairs; ++p) {
      const float* even = b.data + 2 * p * b.stride;
      const float* odd = 2 * p + 1 < depth ? even + b.stride : nullptr;
      for (std::ptrdiff_t j = 0; j < cols; j += 16)
        pack_two_rows(even + j, odd ? odd + j : nullptr, std::min<std::ptrdiff_t>(16, cols - j),
                      words + ((j / kPanel) * pairs + p) * kPanel + j % kPanel);
    }
    return;
  }
  // Transposed: column j of op(B) is memory row j, its depths contiguous. Pack 16 such rows,
  // then gather each depth pair's 16 words (a 16 x pairs transpose).
  scratch.resize(std::size_t(16 * pairs));
  const __m512i row_starts = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                _mm512_set1_epi32(int(pairs)));
  for (std::ptrdiff_t j = 0; j < cols; j += 16) {
    const std::ptrdiff_t n = std::min<std::ptrdiff_t>(16, cols - j);
    for (std::ptrdiff_t r = 0; r < n; ++r) pack_contiguous_row(b.data + (j + r) * b.stride, depth, scratch.data() + r * pairs);
    const __mmask16 valid = __mmask16((1u << n) - 1);
    std::uint32_t* column = words + (j / kPanel) * pairs * kPanel + j % kPanel;
    for (std::ptrdiff_t p = 0; p < pairs; ++p)
      _mm512_storeu_si512(column + p * kPanel,
                          _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, row_starts, scratch.data() + p, 4));
  }
}

// C rows [0, Rows) x the panel's columns (`cols` of them valid) (+)= A words x the panel.
template <int Rows>
inline void kernel(const std::uint32_t* a, std::ptrdiff_t pairs, const std::uint32_t* panel, float* c,
                   std::ptrdiff_t ldc, std::ptrdiff_t cols, bool accumulate) {
  __m512 acc[Rows][kVectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_setzero_ps();
  for (std::ptrdiff_t p = 0; p < pairs; ++p) {
    __m512bh b[kVectors];
    for (int v = 0; v < kVectors; ++v) b[v] = (__m512bh)_mm512_load_si512(panel + p * kPanel + 16 * v);
    for (int r = 0; r < Rows; ++r) {
      const __m512bh x = (__m512bh)_mm512_set1_epi32(int(a[r * pairs + p]));
      for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
    }
  }
  for (int v = 0; v < kVectors; ++v) {
    const std::ptrdiff_t n = std::min<std::ptrdiff_t>(16, cols - 16 * v);
    if (n <= 0) break;
    const __mmask16 mask = __mmask16((1u << n) - 1);
    for (int r = 0; r < Rows; ++r) {
      float* out = c + r * ldc + 16 * v;
      const __m512 sum = accumulate ? _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(mask, out)) : acc[r][v];
      _mm512_mask_storeu_ps(out, mask, sum);
    }
  }
}

template <int Rows = kRows>
inline void kernel_rows(int rows, const std::uint32_t* a, std::ptrdiff_t pairs, const std::uint32_t* panel, float* c,
                        std::ptrdiff_t ldc, std::ptrdiff_t cols, bool accumulate) {
  if constexpr (Rows > 0) {
    if (rows == Rows) return kernel<Rows>(a, pairs, panel, c, ldc, cols, accumulate);
    kernel_rows<Rows - 1>(rows, a, pairs, panel, c, ldc, cols, accumulate);
  }
}

}  // namespace detail
#endif

// op(A) (rows x depth) rounded to bf16 and packed. Call only where available() is true.
inline void pack_rows(const Operand& a, std::ptrdiff_t rows, std::ptrdiff_t depth, PackedRows& packed) {
  packed.rows = rows;
  packed.depth = depth;
  if (packed.words.size() < std::size_t(rows * packed.pairs())) packed.words.resize(std::size_t(rows * packed.pairs()));
#if DEEPHASH_BF16_PRODUCTS
  detail::pack_a(a, rows, depth, packed.words.data());
#else
  (void)a;
#endif
}

// C (a.rows x cols, element (i, j) at c[i * ldc + j]) = A op(B), or += with `accumulate`, for
// op(B) of a.depth x cols. Call only where available() is true.
inline void multiply(const PackedRows& a, const Operand& b, std::ptrdiff_t cols, float* c, std::ptrdiff_t ldc,
                     bool accumulate, Workspace& ws) {
#if DEEPHASH_BF16_PRODUCTS
  const std::ptrdiff_t pairs = a.pairs(), panels = (cols + kPanel - 1) / kPanel;
  if (ws.b.size() < std::size_t(panels * pairs * kPanel)) ws.b.resize(std::size_t(panels * pairs * kPanel));
  detail::pack_b(b, a.depth, cols, ws.b.data(), ws.rows);
  for (std::ptrdiff_t q = 0; q < panels; ++q) {
    const std::uint32_t* panel = ws.b.data() + q * pairs * kPanel;
    const std::ptrdiff_t j = q * kPanel, n = std::min<std::ptrdiff_t>(kPanel, cols - j);
    for (std::ptrdiff_t i = 0; i < a.rows; i += kRows)
      detail::kernel_rows(int(std::min<std::ptrdiff_t>(kRows, a.rows - i)), a.words.data() + i * pairs, pairs, panel,
                          c + i * ldc + j, ldc, n, accumulate);
  }
#else
  (void)a, (void)b, (void)cols, (void)c, (void)ldc, (void)accumulate, (void)ws;
#endif
}

// C = op(A) op(B) (or +=) with op(A) packed on the way, into ws.
inline void multiply(const Operand& a, const Operand& b, std::ptrdiff_t rows, std::ptrdiff_t depth,
                     std::ptrdiff_t cols, float* c, std::ptrdiff_t ldc, bool accumulate, Workspace& ws) {
  pack_rows(a, rows, depth, ws.a);
  multiply(ws.a, b, cols, c, ldc, accumulate, ws);
}

}  // namespace deephash::nn::bf16
