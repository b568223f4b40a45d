#pragma once
// Shared setup for the benchmarks: deterministic random data and the thread count every
// contender uses (DEEPHASH_NUM_THREADS, else all cores).

#include <cstdint>
#include <random>
#include <vector>

#include <deephash/codes/bit_codes.hpp>
#include <deephash/core/thread_pool.hpp>

namespace deephash::bench {

inline BitCodes random_codes(std::size_t n, int bits, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> words(n * std::size_t(words_for_bits(bits)));
  for (auto& w : words) w = rng();
  return BitCodes::from_words(n, bits, words.data());
}

inline unsigned bench_threads() { return default_num_threads(); }

}  // namespace deephash::bench
