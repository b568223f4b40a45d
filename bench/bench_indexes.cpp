// Multi-index hashing against the flat scan, exact both (same results), and FAISS's
// IndexBinaryFlat when built with FAISS, over the codes users have: synthetic codes clustered like
// a trained model's (bench::clustered_codes) at 10^6 and 10^7, uniform random codes, and, when
// DEEPHASH_BENCH_MODEL_CODES names an encoded database and query set ("db.dhc,queries.dhc", from
// `deephash encode`), a trained model's own codes. 1,024 queries per batch, every core.
// items_per_second counts queries; the label says the index and its tables.

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <cstdlib>

#include <deephash/codes/faiss_layout.hpp>
#include <deephash/io/container/codes_file.hpp>
#include <deephash/search/hamming_index.hpp>
#include <deephash/search/multi_index_hashing.hpp>

#include "bench_common.hpp"

#ifdef DEEPHASH_BENCH_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <omp.h>
#endif

namespace {

using namespace deephash;

constexpr std::size_t kQueries = 1024;

enum Data { kClustered = 0, kUniform = 1, kModel = 2 };
// kFaiss64: the codes stored as 64 bits (zero padding keeps every distance), FAISS's fastest path.
enum Kind { kFlat = 0, kMih = 1, kFaiss = 2, kFaiss64 = 3 };

struct Set {
  BitCodes database, queries;
};

const Set& set_for(int data, std::size_t n, int bits) {
  static std::map<std::tuple<int, std::size_t, int>, std::unique_ptr<Set>> cache;
  auto& slot = cache[{data, n, bits}];
  if (!slot) {
    if (data == kModel) {
      const std::string spec = std::getenv("DEEPHASH_BENCH_MODEL_CODES");
      const std::size_t comma = spec.find(',');
      const BitCodes queries = load_encoded_set(spec.substr(comma + 1)).codes;
      slot = std::make_unique<Set>(Set{load_encoded_set(spec.substr(0, comma)).codes,
                                       queries.slice(0, std::min(kQueries, queries.size()))});
    } else if (data == kClustered)
      slot = std::make_unique<Set>(Set{bench::clustered_codes(n, bits, 1), bench::clustered_codes(kQueries, bits, 2)});
    else
      slot = std::make_unique<Set>(Set{bench::random_codes(n, bits, 1), bench::random_codes(kQueries, bits, 2)});
  }
  return *slot;
}

// Built once per data set and kept.
const BinaryIndex& index_for(int kind, int data, std::size_t n, int bits) {
  static std::map<std::tuple<int, int, std::size_t, int>, std::unique_ptr<BinaryIndex>> cache;
  auto& slot = cache[{kind, data, n, bits}];
  if (!slot) {
    const BitCodes& database = set_for(data, n, bits).database;
    if (kind == kFlat) slot = std::make_unique<HammingIndex>(database.bits(), bench::bench_threads());
    else slot = std::make_unique<MultiIndexHashing>(database.bits(), 0, bench::bench_threads());
    slot->add(database);
    if (auto* mih = dynamic_cast<MultiIndexHashing*>(slot.get())) mih->rebuild();
  }
  return *slot;
}

#ifdef DEEPHASH_BENCH_FAISS
void faiss_knn(benchmark::State& state, const Set& s, idx_t k, bool as_64_bits) {
  static std::map<std::pair<const Set*, bool>, std::unique_ptr<faiss::IndexBinaryFlat>> cache;
  // Codes of up to 64 bits are one word either way: the same words read as 64-bit codes.
  const auto widen = [&](const BitCodes& c) {
    return as_64_bits && c.bits() < 64 ? BitCodes::from_words(c.size(), 64, c.data()) : c;
  };
  auto& index = cache[{&s, as_64_bits}];
  if (!index) {
    const BitCodes database = widen(s.database);
    index = std::make_unique<faiss::IndexBinaryFlat>(8 * int(faiss_code_size(database.bits())));
    index->add(faiss::idx_t(database.size()), to_faiss_bytes(database).data());
  }
  omp_set_num_threads(int(bench::bench_threads()));
  const auto queries = to_faiss_bytes(widen(s.queries));
  std::vector<std::int32_t> distances(s.queries.size() * std::size_t(k));
  std::vector<faiss::idx_t> labels(s.queries.size() * std::size_t(k));
  for (auto _ : state) {
    index->search(faiss::idx_t(s.queries.size()), queries.data(), k, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations() * s.queries.size()));
  state.SetLabel(as_64_bits ? "faiss IndexBinaryFlat, codes as 64 bits" : "faiss IndexBinaryFlat");
}
#endif

void BM_IndexKnn(benchmark::State& state) {
  const int kind = int(state.range(0)), data = int(state.range(1));
  std::size_t n = std::size_t(state.range(2));
  const int bits = int(state.range(3));
  const idx_t k = idx_t(state.range(4));
  if (data == kModel && !std::getenv("DEEPHASH_BENCH_MODEL_CODES")) {
    state.SkipWithError("set DEEPHASH_BENCH_MODEL_CODES=db.dhc,queries.dhc");
    return;
  }
  const Set& s = set_for(data, n, bits);
  if (kind == kFaiss || kind == kFaiss64) {
#ifdef DEEPHASH_BENCH_FAISS
    faiss_knn(state, s, k, kind == kFaiss64);
#else
    state.SkipWithError("built without FAISS");
#endif
    return;
  }
  const BinaryIndex& index = index_for(kind, data, n, bits);
  const std::size_t nq = s.queries.size();
  std::vector<std::int32_t> distances(nq * std::size_t(k));
  std::vector<idx_t> labels(nq * std::size_t(k));
  for (auto _ : state) {
    index.search(idx_t(nq), s.queries.data(), k, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations() * nq));
  std::string label = index.kind();
  if (const auto* mih = dynamic_cast<const MultiIndexHashing*>(&index)) label += " m=" + std::to_string(mih->tables());
  state.SetLabel(label + (data == kClustered ? " clustered" : data == kUniform ? " uniform" : " model"));
  state.counters["threads"] = bench::bench_threads();
  state.counters["MB"] = double(index.memory_bytes()) / 1e6;
}

// kind: 0 flat, 1 multi-index hashing, 2 FAISS IndexBinaryFlat (3: codes as 64 bits); data: 0 clustered, 1 uniform,
// 2 the model's codes (n and bits are then the files').
void index_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"kind", "data", "n", "bits", "k"});
  for (int k : {1, 10, 100, 1000})
    for (int kind : {kFlat, kMih, kFaiss, kFaiss64}) b->Args({kind, kModel, 0, 0, k});
  for (long n : {1'000'000L, 10'000'000L})
    for (int data : {kClustered, kUniform})
      for (int bits : {48, 64})
        for (int k : {1, 10, 100, 1000})
          for (int kind : {kFlat, kMih, kFaiss}) b->Args({kind, data, n, bits, k});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_IndexKnn)->Apply(index_args);

}  // namespace
