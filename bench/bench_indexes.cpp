// Multi-index hashing against the flat scan, exact both (same results), over the codes users
// have: synthetic codes clustered like a trained model's (bench::clustered_codes) at 10^6 and
// 10^7, and uniform random codes. 1,024 queries per batch, every core. items_per_second counts
// queries; the label says the index and its tables.

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <deephash/search/hamming_index.hpp>
#include <deephash/search/multi_index_hashing.hpp>

#include "bench_common.hpp"

namespace {

using namespace deephash;

constexpr std::size_t kQueries = 1024;

enum Data { kClustered = 0, kUniform = 1 };

struct Set {
  BitCodes database, queries;
};

const Set& set_for(int data, std::size_t n, int bits) {
  static std::map<std::tuple<int, std::size_t, int>, std::unique_ptr<Set>> cache;
  auto& slot = cache[{data, n, bits}];
  if (!slot) {
    if (data == kClustered)
      slot = std::make_unique<Set>(Set{bench::clustered_codes(n, bits, 1), bench::clustered_codes(kQueries, bits, 2)});
    else
      slot = std::make_unique<Set>(Set{bench::random_codes(n, bits, 1), bench::random_codes(kQueries, bits, 2)});
  }
  return *slot;
}

// kind 0: flat, 1: multi-index hashing. Built once per data set and kept.
const BinaryIndex& index_for(int kind, int data, std::size_t n, int bits) {
  static std::map<std::tuple<int, int, std::size_t, int>, std::unique_ptr<BinaryIndex>> cache;
  auto& slot = cache[{kind, data, n, bits}];
  if (!slot) {
    if (kind == 0) slot = std::make_unique<HammingIndex>(bits, bench::bench_threads());
    else slot = std::make_unique<MultiIndexHashing>(bits, 0, bench::bench_threads());
    slot->add(set_for(data, n, bits).database);
    if (auto* mih = dynamic_cast<MultiIndexHashing*>(slot.get())) mih->rebuild();
  }
  return *slot;
}

void BM_IndexKnn(benchmark::State& state) {
  const int kind = int(state.range(0)), data = int(state.range(1));
  const std::size_t n = std::size_t(state.range(2));
  const int bits = int(state.range(3));
  const idx_t k = idx_t(state.range(4));
  const Set& s = set_for(data, n, bits);
  const BinaryIndex& index = index_for(kind, data, n, bits);
  std::vector<std::int32_t> distances(kQueries * std::size_t(k));
  std::vector<idx_t> labels(kQueries * std::size_t(k));
  for (auto _ : state) {
    index.search(idx_t(kQueries), s.queries.data(), k, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations() * kQueries));
  std::string label = index.kind();
  if (const auto* mih = dynamic_cast<const MultiIndexHashing*>(&index)) label += " m=" + std::to_string(mih->tables());
  state.SetLabel(label + (data == kClustered ? " clustered" : " uniform"));
  state.counters["threads"] = bench::bench_threads();
  state.counters["MB"] = double(index.memory_bytes()) / 1e6;
}

void index_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"mih", "uniform", "n", "bits", "k"});
  for (long n : {1'000'000L, 10'000'000L})
    for (int data : {kClustered, kUniform})
      for (int bits : {48, 64})
        for (int k : {1, 10, 100, 1000})
          for (int kind : {0, 1}) b->Args({kind, data, n, bits, k});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_IndexKnn)->Apply(index_args);

}  // namespace
