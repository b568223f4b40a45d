// The evaluation and the fine stage: the paper's CIFAR-10 protocol scored from codes (10,000
// queries x 50,000 database, mAP@1000; the reference MATLAB script took about 12 minutes), and
// the Euclidean rerank of a Hamming candidate pool.

#include <benchmark/benchmark.h>

#include <random>

#include <deephash/eval/protocol.hpp>
#include <deephash/search/coarse_to_fine.hpp>
#include <deephash/search/hamming_index.hpp>

#include "bench_common.hpp"

namespace {

using namespace deephash;

// Codes that behave like trained ones: ten classes, each a prototype with a few bits flipped, so
// neighbours share classes and distances tie as they do for real codes.
BitCodes class_codes(std::size_t n, int bits, std::vector<int>& labels, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const BitCodes prototypes = bench::random_codes(10, bits, 7);
  BitCodes codes(n, bits);
  labels.resize(n);
  std::uniform_int_distribution<int> bit(0, bits - 1);
  for (std::size_t i = 0; i < n; ++i) {
    labels[i] = int(rng() % 10);
    std::copy(prototypes.code(std::size_t(labels[i])), prototypes.code(std::size_t(labels[i])) + codes.words_per_code(),
              codes.code(i));
    for (int f = 0; f < bits / 6; ++f) {
      const int j = bit(rng);
      codes.set_bit(i, j, !codes.bit(i, j));
    }
  }
  return codes;
}

void BM_MapAt1000_10kx50k(benchmark::State& state) {
  const int bits = int(state.range(0));
  std::vector<int> db_labels, q_labels;
  const BitCodes db = class_codes(50000, bits, db_labels, 1);
  const BitCodes queries = class_codes(10000, bits, q_labels, 2);
  HammingIndex index(bits, bench::bench_threads());
  index.add(db);
  const SingleLabelRelevance relevance(q_labels, db_labels);
  double map = 0;
  for (auto _ : state) map = evaluate_protocol(cifar10_lin2015_protocol(), index, queries, relevance).scores.map;
  state.counters["map"] = map;
  state.counters["threads"] = bench::bench_threads();
}

void BM_Rerank(benchmark::State& state) {
  const idx_t pool_size = state.range(0);
  const int dim = int(state.range(1));
  constexpr std::size_t kDatabase = 100000, kQueries = 64;
  const BitCodes db = bench::random_codes(kDatabase, 48, 3);
  const BitCodes queries = bench::random_codes(kQueries, 48, 4);
  std::mt19937 rng(5);
  std::normal_distribution<float> gauss;
  RowMatrixXf db_features(Eigen::Index(kDatabase), dim), query_features(Eigen::Index(kQueries), dim);
  for (Eigen::Index i = 0; i < db_features.size(); ++i) db_features.data()[i] = gauss(rng);
  for (Eigen::Index i = 0; i < query_features.size(); ++i) query_features.data()[i] = gauss(rng);
  HammingIndex index(48, bench::bench_threads());
  index.add(db);
  for (auto _ : state) {
    const RerankedResult r = coarse_to_fine_search(index, db_features, queries, query_features,
                                                   CandidatePool::top(pool_size), 10);
    benchmark::DoNotOptimize(r.labels.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations() * kQueries));  // queries per second
  state.counters["threads"] = bench::bench_threads();
}

}  // namespace

BENCHMARK(BM_MapAt1000_10kx50k)->ArgName("bits")->Arg(12)->Arg(48)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Rerank)->ArgNames({"pool", "dim"})->Args({100, 4096})->Args({1000, 4096})->Unit(benchmark::kMillisecond)->UseRealTime();
