#pragma once
// Population count of XORed codes, one SIMD register of database words at a time.
//
// Three backends share one interface, chosen at compile time. A distance register is
// finish(add(count(a0 ^ q0), add(count(a1 ^ q1), ...))) over the words of a code, where at most
// max_words_per_count counts may be added before finish.
//   Avx512PopcountBackend  AVX-512 with VPOPCNTDQ (one instruction per 8 words);
//   XsimdBackend<Arch>     any xsimd architecture (SSE2 ... AVX-512BW). xsimd 8.1 has no batch
//                          popcount, so it is built from shifts, masks and adds (SWAR), and the
//                          byte counts of several words are summed before the costly horizontal
//                          step;
//   ScalarBackend          one code at a time with the compiler's popcount.
// A backend reports whether any lane of a distance register is below a bound (nonzero if so) and,
// on the rare occasions it is, which lanes as a bit mask.

#include <cstddef>
#include <cstdint>

#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#include <immintrin.h>
#define DEEPHASH_HAVE_AVX512_VPOPCNTDQ 1
#endif

#include <xsimd/xsimd.hpp>

namespace deephash::simd {

inline int popcount64(std::uint64_t x) { return __builtin_popcountll(x); }

struct ScalarBackend {
  using reg = std::uint64_t;
  static constexpr std::size_t lanes = 1;
  static const char* name() { return "scalar"; }

  static constexpr int max_words_per_count = 1 << 20;

  static reg broadcast(std::uint64_t v) { return v; }
  static reg load(const std::uint64_t* p) { return *p; }
  static reg zero() { return 0; }
  static reg count(reg x) { return reg(popcount64(x)); }
  static reg add(reg a, reg b) { return a + b; }
  static reg finish(reg counts) { return counts; }
  static unsigned lanes_below(reg d, reg bound) { return d < bound ? 1u : 0u; }
  static unsigned any_below(reg d, reg bound) { return lanes_below(d, bound); }
  static void store(std::uint64_t* out, reg d) { *out = d; }
  static reg bitwise_xor(reg a, reg b) { return a ^ b; }
};

template <class Arch>
struct XsimdBackend {
  using reg = xsimd::batch<std::uint64_t, Arch>;
  static constexpr std::size_t lanes = reg::size;
  static const char* name() { return Arch::name(); }

  static reg broadcast(std::uint64_t v) { return reg(v); }

  // Per-byte popcounts (each 0..8) of every byte of x.
  static reg byte_counts(reg x) {
    const reg m1(0x5555555555555555ull), m2(0x3333333333333333ull), m4(0x0F0F0F0F0F0F0F0Full);
    x = x - ((x >> 1) & m1);
    x = (x & m2) + ((x >> 2) & m2);
    return (x + (x >> 4)) & m4;
  }
  // Sum of the eight bytes of each lane (each byte at most 255).
  static reg sum_bytes(reg x) {
    const reg b(0x00FF00FF00FF00FFull), h(0x0000FFFF0000FFFFull), l(0x00000000FFFFFFFFull);
    x = (x & b) + ((x >> 8) & b);
    x = (x & h) + ((x >> 16) & h);
    return (x & l) + (x >> 32);
  }

  // count() leaves per-byte counts (0..8); 31 of them still fit a byte (31 * 8 = 248).
  static constexpr int max_words_per_count = 31;
  static reg load(const std::uint64_t* p) { return reg::load_aligned(p); }
  static reg zero() { return reg(std::uint64_t(0)); }
  static reg count(reg x) { return byte_counts(x); }
  static reg add(reg a, reg b) { return a + b; }
  static reg finish(reg counts) { return sum_bytes(counts); }

  static unsigned any_below(reg d, reg bound) { return xsimd::any(d < bound) ? 1u : 0u; }
  static unsigned lanes_below(reg d, reg bound) {
    const auto below = d < bound;
    if (!xsimd::any(below)) return 0;
    alignas(64) bool flags[lanes];
    below.store_aligned(flags);
    unsigned mask = 0;
    for (std::size_t i = 0; i < lanes; ++i) mask |= unsigned(flags[i]) << i;
    return mask;
  }
  static void store(std::uint64_t* out, reg d) { d.store_aligned(out); }
  static reg bitwise_xor(reg a, reg b) { return a ^ b; }
};

#ifdef DEEPHASH_HAVE_AVX512_VPOPCNTDQ
struct Avx512PopcountBackend {
  using reg = __m512i;
  static constexpr std::size_t lanes = 8;
  static const char* name() { return "avx512-vpopcntdq"; }

  static reg broadcast(std::uint64_t v) { return _mm512_set1_epi64(static_cast<long long>(v)); }

  static constexpr int max_words_per_count = 1 << 20;
  static reg load(const std::uint64_t* p) { return _mm512_load_si512(static_cast<const void*>(p)); }
  static reg zero() { return _mm512_setzero_si512(); }
  static reg count(reg x) { return _mm512_popcnt_epi64(x); }
  static reg add(reg a, reg b) { return _mm512_add_epi64(a, b); }
  static reg finish(reg counts) { return counts; }
  static unsigned lanes_below(reg d, reg bound) { return _mm512_cmplt_epu64_mask(d, bound); }
  static unsigned any_below(reg d, reg bound) { return lanes_below(d, bound); }
  static void store(std::uint64_t* out, reg d) { _mm512_store_si512(static_cast<void*>(out), d); }
  static reg bitwise_xor(reg a, reg b) { return _mm512_xor_si512(a, b); }
};
#endif

// The fastest backend the compiler targets.
#if defined(DEEPHASH_HAVE_AVX512_VPOPCNTDQ)
using DefaultBackend = Avx512PopcountBackend;
#elif XSIMD_WITH_SSE2 || XSIMD_WITH_NEON
using DefaultBackend = XsimdBackend<xsimd::default_arch>;
#else
using DefaultBackend = ScalarBackend;
#endif

}  // namespace deephash::simd
