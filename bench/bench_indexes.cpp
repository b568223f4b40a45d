// Multi-index hashing against the flat scan, exact both (same results), and FAISS's
// IndexBinaryFlat when built with FAISS, over the codes users have: synthetic codes clustered like
// a trained model's (bench::clustered_codes) at 10^6 and 10^7, uniform random codes, and, when
// DEEPHASH_BENCH_MODEL_CODES names an encoded database and query set ("db.dhc,queries.dhc", from
// `deephash encode`), a trained model's own codes. 1,024 queries per batch, every core.
// items_per_second counts queries; the label says the index and its tables.
//
// BM_ApproxKnn: FAISS's approximate binary indexes (IndexBinaryMultiHash, IndexBinaryIVF,
// IndexBinaryHNSW) on the same clustered codes, with their recall against the exact result.
// BM_IndexOpen: opening a saved index, mapped (map_index) against read whole (load_index);
// BM_MihMapOpen: mapping a multi-index hashing file with its tables, at 10^7 (and 10^8).
// DEEPHASH_BENCH_1E8=1 adds 10^8 clustered 64-bit codes to both k-NN grids (some 12 GB of
// memory and an hour on two cores: kept out of CI and of the default run).

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <deephash/codes/faiss_layout.hpp>
#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/search/hamming_index.hpp>
#include <deephash/search/multi_index_hashing.hpp>

#include "bench_common.hpp"

#ifdef DEEPHASH_BENCH_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHNSW.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/IndexBinaryIVF.h>
#include <omp.h>
#endif

namespace {

using namespace deephash;

constexpr std::size_t kQueries = 1024;

enum Data { kClustered = 0, kUniform = 1, kModel = 2 };
// kFaiss64: the codes stored as 64 bits (zero padding keeps every distance), FAISS's fastest path.
// kMihTablesOnly: multi-index hashing that never hands a batch to the scan (set_pick_scan(false)),
// to show what the pilot saves.
enum Kind { kFlat = 0, kMih = 1, kFaiss = 2, kFaiss64 = 3, kMihTablesOnly = 4 };

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
    else {
      auto mih = std::make_unique<MultiIndexHashing>(database.bits(), 0, bench::bench_threads());
      mih->set_pick_scan(kind != kMihTablesOnly);
      slot = std::move(mih);
    }
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
  if (const auto* mih = dynamic_cast<const MultiIndexHashing*>(&index)) {
    label += " m=" + std::to_string(mih->tables()) + (mih->pick_scan() ? "" : " tables only");
    const auto counts = mih->query_counts();
    state.counters["scanned_share"] =
        double(counts.scanned) / double(std::max<std::size_t>(1, counts.probed + counts.by_pivots + counts.scanned));
  }
  state.SetLabel(label + (data == kClustered ? " clustered" : data == kUniform ? " uniform" : " model"));
  state.counters["threads"] = bench::bench_threads();
  state.counters["MB"] = double(index.memory_bytes()) / 1e6;
}

bool huge_runs() { return std::getenv("DEEPHASH_BENCH_1E8") != nullptr; }

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
          for (int kind : {kFlat, kMih, kMihTablesOnly, kFaiss}) b->Args({kind, data, n, bits, k});
  if (huge_runs())
    for (int k : {1, 10, 100, 1000})
      for (int kind : {kFlat, kMih}) b->Args({kind, kClustered, 100'000'000L, 64, k});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_IndexKnn)->Apply(index_args);

// FAISS's approximate indexes: time and recall, beside the exact indexes above.
enum Approx { kMultiHash = 0, kIvf = 1, kHnsw = 2 };

#ifdef DEEPHASH_BENCH_FAISS
// The exact k nearest distances of every query (our flat index), for recall.
const std::vector<std::int32_t>& exact_distances(const Set& s, idx_t k) {
  static std::map<std::pair<const Set*, idx_t>, std::vector<std::int32_t>> cache;
  auto& d = cache[{&s, k}];
  if (d.empty()) {
    const BinaryIndex& flat = index_for(kFlat, kClustered, s.database.size(), s.database.bits());
    d = flat.search(s.queries, k).distances;
  }
  return d;
}

// Built once per (kind, set, parameter that shapes the index) and kept. MultiHash: 4 tables of
// 16-bit substrings (multi-index hashing's own shape for 64 bits); IVF: 4,096 lists trained on
// 40 codes per list; HNSW: 16 links per node, FAISS's default construction depth.
faiss::IndexBinary& faiss_approx_index(int kind, const Set& s, double& build_seconds) {
  static std::map<std::pair<int, const Set*>, std::unique_ptr<faiss::IndexBinary>> cache;
  static std::map<std::pair<int, const Set*>, double> build_times;
  static std::map<const Set*, std::unique_ptr<faiss::IndexBinaryFlat>> quantizers;
  auto& slot = cache[{kind, &s}];
  double& seconds = build_times[{kind, &s}];
  build_seconds = seconds;
  if (slot) return *slot;
  const auto start = std::chrono::steady_clock::now();
  const int d = s.database.bits();
  const auto codes = to_faiss_bytes(s.database);
  const auto n = faiss::idx_t(s.database.size());
  if (kind == kMultiHash) {
    slot = std::make_unique<faiss::IndexBinaryMultiHash>(d, 4, d / 4);
  } else if (kind == kIvf) {
    constexpr std::size_t kLists = 4096;
    auto& quantizer = quantizers[&s];
    quantizer = std::make_unique<faiss::IndexBinaryFlat>(d);
    auto ivf = std::make_unique<faiss::IndexBinaryIVF>(quantizer.get(), std::size_t(d), kLists);
    ivf->cp.max_points_per_centroid = 40;
    ivf->train(faiss::idx_t(std::min<std::size_t>(s.database.size(), 40 * kLists)), codes.data());
    slot = std::move(ivf);
  } else {
    slot = std::make_unique<faiss::IndexBinaryHNSW>(d, 16);
  }
  slot->add(n, codes.data());
  build_seconds = seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return *slot;
}
#endif

void BM_ApproxKnn(benchmark::State& state) {
#ifdef DEEPHASH_BENCH_FAISS
  const int kind = int(state.range(0));
  const std::size_t n = std::size_t(state.range(1));
  const idx_t k = idx_t(state.range(2));
  const int parameter = int(state.range(3));  // MultiHash: bit flips; IVF: lists probed; HNSW: efSearch
  const Set& s = set_for(kClustered, n, 64);
  const std::vector<std::int32_t>& exact = exact_distances(s, k);
  omp_set_num_threads(int(bench::bench_threads()));
  double build_seconds = 0;
  faiss::IndexBinary& index = faiss_approx_index(kind, s, build_seconds);
  state.counters["build_s"] = build_seconds;
  std::string label;
  if (auto* multi = dynamic_cast<faiss::IndexBinaryMultiHash*>(&index)) {
    multi->nflip = parameter;
    label = "faiss IndexBinaryMultiHash 4x16, nflip=" + std::to_string(parameter);
  } else if (auto* ivf = dynamic_cast<faiss::IndexBinaryIVF*>(&index)) {
    ivf->nprobe = std::size_t(parameter);
    label = "faiss IndexBinaryIVF 4096 lists, nprobe=" + std::to_string(parameter);
  } else if (auto* hnsw = dynamic_cast<faiss::IndexBinaryHNSW*>(&index)) {
    hnsw->hnsw.efSearch = std::max(parameter, int(k));
    label = "faiss IndexBinaryHNSW M=16, efSearch=" + std::to_string(hnsw->hnsw.efSearch);
  }
  // MultiHash takes ~0.3 s a query at 10^7 and more beyond (its buckets at the class centres hold
  // millions): it gets the first 128 queries at 10^7 and 16 at 10^8; items_per_second stays per query.
  const std::size_t nq = kind != kMultiHash || n < 10'000'000 ? s.queries.size() : n < 100'000'000 ? 128 : 16;
  const auto queries = to_faiss_bytes(s.queries.slice(0, nq));
  std::vector<std::int32_t> distances(nq * std::size_t(k));
  std::vector<faiss::idx_t> labels(nq * std::size_t(k));
  for (auto _ : state) {
    index.search(faiss::idx_t(nq), queries.data(), k, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  // Recall by distance (ties make ids arbitrary): the share of ranks whose distance is the exact one.
  std::size_t right = 0;
  for (std::size_t i = 0; i < distances.size(); ++i) right += labels[i] >= 0 && distances[i] == exact[i];
  state.counters["recall"] = double(right) / double(distances.size());
  state.SetItemsProcessed(std::int64_t(state.iterations() * nq));
  state.SetLabel(label + " clustered");
#else
  state.SkipWithError("built without FAISS");
#endif
}

// kind, n, k, parameter (MultiHash: nflip; IVF: nprobe; HNSW: efSearch). HNSW at 10^7 at most:
// its graph would not fit beside the rest at 10^8.
void approx_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"kind", "n", "k", "param"});
  std::vector<long> sizes = {1'000'000L, 10'000'000L};
  if (huge_runs()) sizes.push_back(100'000'000L);
  for (long n : sizes)
    for (int k : {1, 10, 100, 1000}) {
      for (int nflip : {0, 1})
        if (nflip == 0 || n <= 10'000'000L) b->Args({kMultiHash, n, k, nflip});
      for (int nprobe : {4, 32}) b->Args({kIvf, n, k, nprobe});
      if (n <= 10'000'000L)
        for (int ef : {64, 512}) b->Args({kHnsw, n, k, ef});
    }
  b->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
}

BENCHMARK(BM_ApproxKnn)->Apply(approx_args);

// Opening a saved flat index of n clustered 64-bit codes: mapped (nothing read; chunks checked as
// searches use them) or read whole and checked. The page cache holds the file either way (it was
// just written), so this is the cost of opening, not of the disk.
void BM_IndexOpen(benchmark::State& state) {
  const bool mapped = state.range(0) == 1;
  const std::size_t n = std::size_t(state.range(1));
  static struct Files {
    std::map<std::size_t, std::string> paths;
    ~Files() {
      for (const auto& [n, path] : paths) std::filesystem::remove(path);
    }
  } files;
  std::string& path = files.paths[n];
  if (path.empty()) {
    path = (std::filesystem::temp_directory_path() / ("deephash-bench-open-" + std::to_string(n) + ".dhx")).string();
    HammingIndex index(64, bench::bench_threads());
    index.add(bench::clustered_codes(n, 64, 1));
    index.save(path);
  }
  for (auto _ : state) {
    auto index = mapped ? map_index(path, bench::bench_threads()) : load_index(path, bench::bench_threads());
    benchmark::DoNotOptimize(index.get());
    state.counters["memory_MB"] = double(index->memory_bytes()) / 1e6;
  }
  state.counters["file_MB"] = double(std::filesystem::file_size(path)) / 1e6;
  state.SetLabel(mapped ? "map_index" : "load_index");
}

void open_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"mapped", "n"});
  std::vector<long> sizes = {1'000'000L, 10'000'000L};
  if (huge_runs()) sizes.push_back(100'000'000L);
  for (long n : sizes)
    for (int mapped : {1, 0}) b->Args({mapped, n});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_IndexOpen)->Apply(open_args);

// Opening a saved multi-index hashing file of n clustered 64-bit codes (1,000 classes), mapped:
// its tables and pivot shells lie in the file (MIHX version 3), so map_index points into it as
// for a flat index, where a version 2 file (codes only) rebuilt its tables on opening (~111 s at
// 10^8). Building the index takes minutes at 10^7 and most of an hour at 10^8, so the file is
// written once into $DEEPHASH_BENCH_CACHE (else the temporary directory) and kept there for the
// next run; delete it to rebuild. 10^7 runs by default (a 245 MB file), 10^8 with
// DEEPHASH_BENCH_1E8=1. first_search_ms: one query, k = 10, on the fresh
// mapping (the chunks it touches checked on the way).
void BM_MihMapOpen(benchmark::State& state) {
  const std::size_t n = std::size_t(state.range(0));
  const char* cache = std::getenv("DEEPHASH_BENCH_CACHE");
  const std::filesystem::path dir = cache ? std::filesystem::path(cache) : std::filesystem::temp_directory_path();
  const std::string path = (dir / ("deephash-bench-mih-v" + std::to_string(kMihIndexFileVersion) + "-" + std::to_string(n) + ".dhx")).string();
  static std::map<std::size_t, double> build_seconds;  // of the files this run wrote
  if (!std::filesystem::exists(path)) {
    const auto start = std::chrono::steady_clock::now();
    MultiIndexHashing index(64, 0, bench::bench_threads());
    index.add(bench::clustered_codes(n, 64, 1, 1000));
    index.rebuild();
    index.save(path);
    build_seconds[n] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (build_seconds.count(n)) state.counters["build_and_save_s"] = build_seconds[n];
  const BitCodes query = bench::clustered_codes(1, 64, 2, 1000);
  double first_search_ms = 0;
  for (auto _ : state) {
    auto index = map_index(path, bench::bench_threads());
    benchmark::DoNotOptimize(index.get());
    state.PauseTiming();
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(index->search(query, 10).labels.data());
    first_search_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.counters["memory_MB"] = double(index->memory_bytes()) / 1e6;
    index.reset();  // unmapped outside the timing
    state.ResumeTiming();
  }
  state.counters["first_search_ms"] = first_search_ms;
  state.counters["file_MB"] = double(std::filesystem::file_size(path)) / 1e6;
  state.SetLabel("map_index, mih");
}

void mih_open_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n"});
  b->Arg(10'000'000L);
  if (huge_runs()) b->Arg(100'000'000L);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_MihMapOpen)->Apply(mih_open_args);

}  // namespace
