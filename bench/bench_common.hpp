#pragma once
// Shared setup for the benchmarks: deterministic random data and the thread count every
// contender uses (DEEPHASH_NUM_THREADS, else all cores).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
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

// Codes like a trained model's: `classes` random centres, each code its class's centre with d
// bits flipped, d drawn from the distances to their class centre of the shipped Fashion-MNIST
// model's 60,000 database codes (48 bits: 55% at 0, 20% at 1, 8% at 2, then a long tail),
// scaled to `bits`. Queries drawn the same way (another seed) fall near the centres as test
// images do.
inline BitCodes clustered_codes(std::size_t n, int bits, std::uint64_t seed, std::size_t classes = 10) {
  std::mt19937_64 centre_rng(7);  // the same centres for database and queries
  BitCodes centres = random_codes(classes, bits, centre_rng());
  static const std::vector<double> measured = {32907, 11900, 4954, 2726, 1955, 1471, 1163, 880, 603, 459,
                                               316,   226,   165,  100,  52,   33,   29,   20,  10,  5};
  std::discrete_distribution<int> flips(measured.begin(), measured.end());
  std::mt19937_64 rng(seed);
  BitCodes out(n, bits);
  const int words = out.words_per_code();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = std::size_t(rng() % classes);
    std::copy(centres.code(c), centres.code(c) + words, out.code(i));
    const long d = std::lround(flips(rng) * double(bits) / 48.0);
    for (long f = 0; f < d; ++f) {
      const int j = int(rng() % std::uint64_t(bits));
      out.set_bit(i, j, !out.bit(i, j));
    }
  }
  return out;
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
