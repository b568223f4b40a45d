// Hamming k-NN over 1,000,000 random codes: deephash's index, FAISS's IndexBinaryFlat (when
// built with FAISS), the blocked ceiling (the index's scan with nothing but xor + popcount +
// compare) and a bare unblocked loop over the same data, all with the same number of threads.
// items_per_second counts query x database pairs.

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <utility>

#include <deephash/codes/faiss_layout.hpp>
#include <deephash/search/hamming_index.hpp>

#include "bench_common.hpp"

#ifdef DEEPHASH_BENCH_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <omp.h>
#endif

namespace {

using namespace deephash;

constexpr std::size_t kDatabase = 1'000'000;
constexpr std::size_t kQueries = 256;

struct Data {
  BitCodes database, queries;
};

// Built once per code length and shared by every benchmark of that length.
const Data& data_for(int bits) {
  static std::map<int, std::unique_ptr<Data>> cache;
  auto& slot = cache[bits];
  if (!slot)
    slot = std::make_unique<Data>(Data{bench::random_codes(kDatabase, bits, 1000 + bits),
                                       bench::random_codes(kQueries, bits, 2000 + bits)});
  return *slot;
}

const HammingIndex& index_for(int bits) {
  static std::map<int, std::unique_ptr<HammingIndex>> cache;
  auto& slot = cache[bits];
  if (!slot) {
    slot = std::make_unique<HammingIndex>(bits, bench::bench_threads());
    slot->add(data_for(bits).database);
  }
  return *slot;
}

void set_pairs(benchmark::State& state, std::size_t queries) {
  state.SetItemsProcessed(std::int64_t(state.iterations() * queries * kDatabase));
  state.counters["threads"] = bench::bench_threads();
}

void BM_HammingKnn(benchmark::State& state) {
  const int bits = int(state.range(0));
  const idx_t k = idx_t(state.range(1));
  const Data& d = data_for(bits);
  const HammingIndex& index = index_for(bits);
  std::vector<std::int32_t> dist(kQueries * std::size_t(k));
  std::vector<idx_t> labels(kQueries * std::size_t(k));
  for (auto _ : state) {
    index.search(idx_t(kQueries), d.queries.data(), k, dist.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  set_pairs(state, kQueries);
  state.SetLabel(HammingIndex::backend_name());
}

void BM_HammingKnnSingleQuery(benchmark::State& state) {
  const int bits = int(state.range(0));
  const idx_t k = idx_t(state.range(1));
  const Data& d = data_for(bits);
  const HammingIndex& index = index_for(bits);
  std::vector<std::int32_t> dist(static_cast<std::size_t>(k));
  std::vector<idx_t> labels(static_cast<std::size_t>(k));
  std::size_t q = 0;
  for (auto _ : state) {
    index.search(1, d.queries.code(q++ % kQueries), k, dist.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  set_pairs(state, 1);
}

// The floor: xor, popcount and a compare against a fixed bound, survivors only counted, no
// top-k; the database streamed once per query, in the index's layout and SIMD backend.
template <int Words>
std::size_t bare_count(const CodeBlocks& db, const std::uint64_t* query, std::uint64_t bound) {
  using Backend = simd::DefaultBackend;
  const int words = Words > 0 ? Words : db.words();
  typename Backend::reg q[Words > 0 ? Words : kMaxWords];
  for (int w = 0; w < words; ++w) q[w] = Backend::broadcast(query[w]);
  const auto b = Backend::broadcast(bound);
  std::size_t count = 0;
  for (std::size_t block = 0; block < db.num_blocks(); ++block)
    for (std::size_t r = 0; r < kBlockCodes / Backend::lanes; ++r)
      count += std::size_t(__builtin_popcount(Backend::lanes_below(
          detail::distance_any_length<Backend>(db.block(block) + r * Backend::lanes, q, words), b)));
  return count;
}

void BM_BareXorPopcount(benchmark::State& state) {
  const int bits = int(state.range(0));
  const Data& d = data_for(bits);
  CodeBlocks blocks(bits);
  blocks.append(d.database.data(), d.database.size());
  ThreadPool pool(bench::bench_threads());
  std::vector<std::size_t> counts(kQueries);
  for (auto _ : state) {
    pool.parallel_for(kQueries, [&](std::size_t q) {
      counts[q] = dispatch_words(blocks.words(), [&](auto w) {
        return bare_count<decltype(w)::value>(blocks, d.queries.code(q), std::uint64_t(bits / 8));
      });
    });
    benchmark::DoNotOptimize(counts.data());
  }
  set_pairs(state, kQueries);
}

// The ceiling: the index's own blocked scan (queries tiled, L1-sized chunks of the database, each
// load shared by up to 4 queries, every thread busy) with a bound that never moves, so that only
// xor, popcount and compare remain: a radius-0 search of random codes, whose survivors are rare
// (1 in 4,096 at 12 bits, none in practice from 32 bits). No k-NN can go faster on this layout.
void BM_BlockedCeiling(benchmark::State& state) {
  const int bits = int(state.range(0));
  const Data& d = data_for(bits);
  const HammingIndex& index = index_for(bits);
  for (auto _ : state) {
    const RangeSearchResult r = index.range_search(idx_t(kQueries), d.queries.data(), 0);
    benchmark::DoNotOptimize(r.labels.data());
  }
  set_pairs(state, kQueries);
}

#ifdef DEEPHASH_BENCH_FAISS
// FAISS wants whole bytes: a 12-bit code is given as 16 bits with the top 4 zero (same distances).
const faiss::IndexBinaryFlat& faiss_index_for(int bits) {
  static std::map<int, std::unique_ptr<faiss::IndexBinaryFlat>> cache;
  auto& slot = cache[bits];
  if (!slot) {
    const int faiss_bits = (bits + 7) / 8 * 8;
    slot = std::make_unique<faiss::IndexBinaryFlat>(faiss_bits);
    const auto bytes = to_faiss_bytes(data_for(bits).database);
    slot->add(faiss::idx_t(kDatabase), bytes.data());
  }
  return *slot;
}

void BM_FaissBinaryFlatKnn(benchmark::State& state) {
  const int bits = int(state.range(0));
  const idx_t k = idx_t(state.range(1));
  omp_set_num_threads(int(bench::bench_threads()));
  const auto& index = faiss_index_for(bits);
  const auto queries = to_faiss_bytes(data_for(bits).queries);
  std::vector<std::int32_t> dist(kQueries * std::size_t(k));
  std::vector<faiss::idx_t> labels(kQueries * std::size_t(k));
  for (auto _ : state) {
    index.search(faiss::idx_t(kQueries), queries.data(), k, dist.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  set_pairs(state, kQueries);
}
#endif


}  // namespace

BENCHMARK(BM_HammingKnn)->Apply(bench::knn_args);
#ifdef DEEPHASH_BENCH_FAISS
BENCHMARK(BM_FaissBinaryFlatKnn)->Apply(bench::knn_args);
#endif
BENCHMARK(BM_BlockedCeiling)->ArgName("bits")->Arg(12)->Arg(32)->Arg(48)->Arg(64)->Arg(128)->Arg(256)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BareXorPopcount)->ArgName("bits")->Arg(12)->Arg(32)->Arg(48)->Arg(64)->Arg(128)->Arg(256)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_HammingKnnSingleQuery)->ArgNames({"bits", "k"})->Args({48, 10})->Args({64, 10})
    ->Args({256, 10})->Args({48, 1000})->Unit(benchmark::kMicrosecond)->UseRealTime();
