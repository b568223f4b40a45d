#pragma once
// Shared setup for the benchmarks: deterministic random data and the thread count every
// contender uses (DEEPHASH_NUM_THREADS, else all cores).

#include <benchmark/benchmark.h>

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

// The k-NN grid every search benchmark runs: code lengths x k.
inline void knn_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bits", "k"});
  for (int bits : {12, 32, 48, 64, 128, 256})
    for (int k : {1, 10, 100, 1000}) b->Args({bits, k});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace deephash::bench
