// deephash_bench_tables: one table per set of codes, every contender in the same run and process.
//
//   deephash_bench_tables --set NAME [--cache DIR] [--k 1,10,100,1000] [--contenders LIST]
//       [--warmup W] [--iterations N] [--recall R] [--queries Q] [--ivf-lists L] [--budget S]
//       [Google Benchmark flags, e.g. --benchmark_out=table.json --benchmark_out_format=json]
//
// The set is one that deephash_bench_write_sets wrote (bench/code_sets.hpp: real codes of the
// shipped models under augmentation, or synthetic codes around 10 / 1,000 / 100,000 centres or
// uniform). Contenders (LIST, comma-separated; all by default):
//   flat             deephash's flat scan (HammingIndex)
//   mih              deephash's multi-index hashing, automatic tables
//   faiss-flat       FAISS IndexBinaryFlat
//   faiss-flat-wide  FAISS IndexBinaryFlat on the codes zero-padded to a multiple of 64 bits (the
//                    same distances; FAISS's fast HammingComputer paths are for 4/8/16/20/32/64
//                    bytes, so 48-bit codes take its generic byte loop unless widened); only for
//                    lengths that are not a multiple of 64 bits
//   faiss-ivf        FAISS IndexBinaryIVF: L lists (default the power of two nearest sqrt(n)),
//                    trained on 16 codes a list, 10 k-means iterations; nprobe the smallest
//                    power of two whose recall reaches R (0.9) at that k
//   faiss-hnsw       FAISS IndexBinaryHNSW, 16 links, FAISS's construction depth; efSearch the
//                    smallest power of two >= max(k, 16) whose recall reaches R (up to 4,096)
//   faiss-multihash  FAISS IndexBinaryMultiHash, Norouzi et al.'s number of tables (MIH's
//                    default_mih_tables); nflip the smallest of 0..3 whose recall reaches R (the
//                    last tried otherwise)
// Recall is by distance (ties make ids arbitrary): the share of the q x k ranks whose distance is
// the exact one. The parameters are chosen on the timed queries themselves (a best case for the
// approximate indexes).
//
// Policy, the same for every contender: the same queries (all the set's, or the first Q), the
// same thread count (DEEPHASH_NUM_THREADS, else all cores; FAISS through omp_set_num_threads),
// W untimed searches of the whole batch (default 1), then N timed ones (default 5; Google
// Benchmark's Iterations). An approximate contender whose one search would take over S seconds
// (default 60) gets the first queries that fit S seconds, and its label says how many.
//
// Before anything is timed, the flat scan and MIH must return identical results (ids and
// distances, every rank of every query) at every k, and FAISS IndexBinaryFlat the same distances;
// otherwise the program stops with the first difference and exits 1.
//
// The JSON's context records the set (and its about.txt), the FAISS library and the SIMD level it
// was built for (faiss::get_compile_options()), threads, warm-up, iterations and the load average
// when the run started.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <deephash/codes/faiss_layout.hpp>
#include <deephash/search/hamming_index.hpp>
#include <deephash/search/multi_index_hashing.hpp>

#include "bench_common.hpp"
#include "code_sets.hpp"

#ifdef DEEPHASH_BENCH_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHNSW.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/utils/utils.h>
#include <omp.h>
#endif

namespace {

using namespace deephash;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string set, cache;
  std::vector<idx_t> ks = {1, 10, 100, 1000};
  std::vector<std::string> contenders = {"flat", "mih", "faiss-flat", "faiss-flat-wide", "faiss-ivf", "faiss-hnsw", "faiss-multihash"};
  int warmup = 1, iterations = 5;
  double recall = 0.9, budget = 60;
  std::size_t queries = 0, ivf_lists = 0;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

bool wanted(const Options& o, const std::string& name) {
  return std::find(o.contenders.begin(), o.contenders.end(), name) != o.contenders.end();
}

// Distances and ids of one k-NN batch.
struct Result {
  std::vector<std::int32_t> distances;
  std::vector<idx_t> labels;
};

// A contender: a search over the first nq queries at one k into `out`, and what the table
// says of it.
struct Row {
  std::string name, label;
  std::size_t nq = 0;
  double recall = 1, build_seconds = 0, memory_mb = 0, parameter = -1;  // parameter: -1 for none
  std::function<void(std::size_t nq, idx_t k, Result& out)> search;
};

#ifdef DEEPHASH_BENCH_FAISS
double recall_of(const Result& r, const Result& exact, std::size_t nq, idx_t k) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < nq * std::size_t(k); ++i) right += r.labels[i] >= 0 && r.distances[i] == exact.distances[i];
  return double(right) / double(nq * std::size_t(k));
}

Result run(const Row& row, std::size_t nq, idx_t k) {
  Result r;
  r.distances.resize(nq * std::size_t(k));
  r.labels.resize(nq * std::size_t(k));
  row.search(nq, k, r);
  return r;
}

// Queries that fit `budget` seconds of one search, from a probe of the first 16.
std::size_t queries_within(const Row& row, std::size_t nq, idx_t k, double budget) {
  const std::size_t probe = std::min<std::size_t>(16, nq);
  const auto start = Clock::now();
  run(row, probe, k);
  const double per_query = seconds_since(start) / double(probe);
  return per_query * double(nq) <= budget ? nq : std::max(probe, std::size_t(budget / per_query));
}
#endif

void register_row(const Options& o, const Row& row, idx_t k) {
  benchmark::RegisterBenchmark(("table/k:" + std::to_string(k) + "/" + row.name).c_str(),
                               [row, k, warmup = o.warmup](benchmark::State& state) {
                                 Result out;
                                 out.distances.resize(row.nq * std::size_t(k));
                                 out.labels.resize(row.nq * std::size_t(k));
                                 for (int w = 0; w < warmup; ++w) row.search(row.nq, k, out);
                                 for (auto _ : state) {
                                   row.search(row.nq, k, out);
                                   benchmark::DoNotOptimize(out.labels.data());
                                 }
                                 state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(row.nq));
                                 state.counters["recall"] = row.recall;
                                 state.counters["queries"] = double(row.nq);
                                 state.counters["threads"] = bench::bench_threads();
                                 state.counters["warmup_searches"] = warmup;
                                 if (row.build_seconds > 0) state.counters["build_s"] = row.build_seconds;
                                 if (row.memory_mb > 0) state.counters["MB"] = row.memory_mb;
                                 if (row.parameter >= 0) state.counters["param"] = row.parameter;
                                 state.SetLabel(row.label);
                               })
      ->Iterations(o.iterations)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', '|');
  return text;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string line;
  std::getline(f, line);
  return line;
}

int run_tables(const Options& o, int argc, char** argv) {
  const auto load_start = Clock::now();
  const bench::CodeSet set = bench::load_code_set(bench::cache_dir(o.cache), o.set);
  const BitCodes& database = set.database.codes;
  const BitCodes queries = o.queries ? set.queries.codes.slice(0, std::min(o.queries, set.queries.codes.size())) : set.queries.codes;
  const std::size_t nq = queries.size();
  const int bits = database.bits();
  const unsigned threads = bench::bench_threads();
  std::printf("%s: %zu codes, %d bits, %zu queries, read in %.1f s; %u threads\n", o.set.c_str(), database.size(), bits, nq,
              seconds_since(load_start), threads);
  std::fflush(stdout);

  auto start = Clock::now();
  HammingIndex flat(bits, threads);
  flat.add(database);
  const double flat_build = seconds_since(start);
  start = Clock::now();
  MultiIndexHashing mih(bits, 0, threads);
  mih.add(database);
  mih.rebuild();
  const double mih_build = seconds_since(start);
  std::printf("built: flat %.1f s, mih %.1f s (%d tables)\n", flat_build, mih_build, mih.tables());

  // The exact results, and the check that both exact indexes agree before anything is timed.
  std::vector<Result> exact;
  for (idx_t k : o.ks) {
    const KnnResult f = flat.search(queries, k), m = mih.search(queries, k);
    for (std::size_t i = 0; i < f.distances.size(); ++i)
      if (f.distances[i] != m.distances[i] || f.labels[i] != m.labels[i]) {
        std::fprintf(stderr, "%s: flat and mih differ at k=%lld, query %zu, rank %zu: flat (id %lld, d %d), mih (id %lld, d %d)\n", o.set.c_str(),
                     (long long)k, i / std::size_t(k), i % std::size_t(k), (long long)f.labels[i], f.distances[i], (long long)m.labels[i],
                     m.distances[i]);
        return 1;
      }
    exact.push_back({f.distances, f.labels});
  }
  std::printf("checked: flat and mih identical (ids and distances) for %zu queries at k =", nq);
  for (idx_t k : o.ks) std::printf(" %lld", (long long)k);
  std::printf("\n");
  const auto counts = mih.query_counts();
  std::printf("mih answered the check's queries: %zu by probes, %zu by pivots, %zu by scanning\n", counts.probed, counts.by_pivots,
              counts.scanned);
  std::fflush(stdout);

  // Each k's rows, in order: the exact contenders, then FAISS's.
  std::vector<std::vector<Row>> rows(o.ks.size());
  const auto exact_row = [&](const std::string& name, const BinaryIndex& index, double build) {
    Row r;
    r.name = name;
    r.label = name == "mih" ? "deephash MultiIndexHashing, " + std::to_string(mih.tables()) + " tables" : "deephash HammingIndex (flat scan)";
    r.nq = nq;
    r.build_seconds = build;
    r.memory_mb = double(index.memory_bytes()) / 1e6;
    r.search = [&index, &queries](std::size_t n, idx_t k, Result& out) {
      index.search(idx_t(n), queries.data(), k, out.distances.data(), out.labels.data());
    };
    for (auto& per_k : rows) per_k.push_back(r);
  };
  if (wanted(o, "flat")) exact_row("flat", flat, flat_build);
  if (wanted(o, "mih")) exact_row("mih", mih, mih_build);

#ifdef DEEPHASH_BENCH_FAISS
  omp_set_num_threads(int(threads));
  static std::vector<std::uint8_t> faiss_queries, faiss_database;
  faiss_queries = to_faiss_bytes(queries);
  faiss_database = to_faiss_bytes(database);
  const auto n = faiss::idx_t(database.size());
  const std::size_t code_size = std::size_t(faiss_code_size(bits));
  static std::vector<std::unique_ptr<faiss::IndexBinary>> keep;  // the rows' searches point into these
  const auto faiss_search = [](faiss::IndexBinary* index) {
    return [index](std::size_t n, idx_t k, Result& out) {
      static_assert(sizeof(faiss::idx_t) == sizeof(idx_t));
      index->search(faiss::idx_t(n), faiss_queries.data(), k, out.distances.data(), reinterpret_cast<faiss::idx_t*>(out.labels.data()));
    };
  };
  const auto add_tuned = [&](const std::string& name, faiss::IndexBinary* index, double build, double memory_mb,
                             const std::vector<int>& parameters, const std::function<std::string(int, idx_t)>& set_parameter) {
    for (std::size_t ki = 0; ki < o.ks.size(); ++ki) {
      const idx_t k = o.ks[ki];
      Row r;
      r.name = name;
      r.build_seconds = build;
      r.memory_mb = memory_mb;
      r.search = faiss_search(index);
      const auto calibrate = Clock::now();
      for (int p : parameters) {
        r.label = set_parameter(p, k);
        if (r.label.empty()) continue;  // a value this k cannot use
        r.nq = queries_within(r, nq, k, o.budget);
        r.recall = recall_of(run(r, r.nq, k), exact[ki], r.nq, k);
        r.parameter = p;
        if (r.recall >= o.recall) break;
      }
      if (r.nq < nq) r.label += ", first " + std::to_string(r.nq) + " queries";
      std::printf("%s k=%lld: %s, recall %.4f (chosen in %.1f s)\n", name.c_str(), (long long)k, r.label.c_str(), r.recall,
                  seconds_since(calibrate));
      std::fflush(stdout);
      const std::function<std::string(int, idx_t)> apply = set_parameter;
      const int chosen = int(r.parameter);
      auto search = r.search;
      // Every row of this index sets its own parameter before it searches.
      r.search = [apply, chosen, search](std::size_t n, idx_t k, Result& out) {
        apply(chosen, k);
        search(n, k, out);
      };
      rows[ki].push_back(r);
    }
  };
  // A FAISS IndexBinaryFlat over `base` (`bytes` a code) searched with `query_bytes`; its
  // distances must equal the flat scan's at every k before its rows are added.
  const auto add_faiss_flat = [&](const std::string& name, const std::string& label, std::size_t bytes,
                                  const std::vector<std::uint8_t>& base, const std::vector<std::uint8_t>& query_bytes) {
    start = Clock::now();
    keep.push_back(std::make_unique<faiss::IndexBinaryFlat>(int(8 * bytes)));
    keep.back()->add(n, base.data());
    Row r;
    r.name = name;
    r.label = label;
    r.nq = nq;
    r.build_seconds = seconds_since(start);
    r.memory_mb = double(bytes * database.size()) / 1e6;
    r.search = [index = keep.back().get(), &query_bytes](std::size_t count, idx_t k, Result& out) {
      index->search(faiss::idx_t(count), query_bytes.data(), k, out.distances.data(), reinterpret_cast<faiss::idx_t*>(out.labels.data()));
    };
    for (std::size_t ki = 0; ki < o.ks.size(); ++ki) {
      if (run(r, nq, o.ks[ki]).distances != exact[ki].distances) {
        std::fprintf(stderr, "%s: %s: distances differ from the flat scan's at k=%lld\n", o.set.c_str(), label.c_str(), (long long)o.ks[ki]);
        return false;
      }
      rows[ki].push_back(r);
    }
    std::printf("checked: %s: distances equal the flat scan's at every k\n", label.c_str());
    return true;
  };
  if (wanted(o, "faiss-flat") && !add_faiss_flat("faiss-flat", "faiss IndexBinaryFlat", code_size, faiss_database, faiss_queries)) return 1;
  if (wanted(o, "faiss-flat-wide") && code_size % 8 != 0) {
    // Each code's bytes, then zeros up to the next multiple of 8 bytes: xor and popcount of the
    // zero bytes add nothing, so the distances are the same.
    const std::size_t wide = (code_size + 7) / 8 * 8;
    static std::vector<std::uint8_t> wide_queries, wide_database;
    const auto widen = [&](const std::vector<std::uint8_t>& bytes) {
      std::vector<std::uint8_t> out(bytes.size() / code_size * wide, 0);
      for (std::size_t i = 0; i < bytes.size() / code_size; ++i)
        std::copy_n(bytes.begin() + std::ptrdiff_t(i * code_size), code_size, out.begin() + std::ptrdiff_t(i * wide));
      return out;
    };
    wide_queries = widen(faiss_queries);
    wide_database = widen(faiss_database);
    if (!add_faiss_flat("faiss-flat-wide", "faiss IndexBinaryFlat, codes zero-padded to " + std::to_string(8 * wide) + " bits", wide,
                        wide_database, wide_queries))
      return 1;
  }
  if (wanted(o, "faiss-ivf")) {
    std::size_t lists = o.ivf_lists;
    if (!lists) lists = std::size_t(1) << std::lround(std::log2(std::sqrt(double(database.size()))));  // the power of two nearest sqrt(n)
    start = Clock::now();
    auto quantizer = std::make_unique<faiss::IndexBinaryFlat>(int(8 * code_size));
    auto ivf = std::make_unique<faiss::IndexBinaryIVF>(quantizer.get(), 8 * code_size, lists);
    ivf->cp.niter = 10;
    ivf->cp.max_points_per_centroid = 16;
    ivf->train(faiss::idx_t(std::min<std::size_t>(database.size(), 16 * lists)), faiss_database.data());
    ivf->add(n, faiss_database.data());
    const double build = seconds_since(start);
    std::printf("faiss-ivf: %zu lists built in %.1f s\n", lists, build);
    auto* index = ivf.get();
    keep.push_back(std::move(quantizer));
    keep.push_back(std::move(ivf));
    std::vector<int> probes;
    for (std::size_t p = 1; p <= lists; p *= 2) probes.push_back(int(p));
    add_tuned("faiss-ivf", index, build, double((code_size + 8) * database.size()) / 1e6, probes, [index, lists](int p, idx_t) {
      index->nprobe = std::size_t(p);
      return "faiss IndexBinaryIVF " + std::to_string(lists) + " lists, nprobe=" + std::to_string(p);
    });
  }
  if (wanted(o, "faiss-hnsw")) {
    start = Clock::now();
    auto hnsw = std::make_unique<faiss::IndexBinaryHNSW>(int(8 * code_size), 16);
    hnsw->add(n, faiss_database.data());
    const double build = seconds_since(start);
    std::printf("faiss-hnsw: built in %.1f s\n", build);
    auto* index = hnsw.get();
    keep.push_back(std::move(hnsw));
    std::vector<int> efs;
    for (int ef = 16; ef <= 4096; ef *= 2) efs.push_back(ef);
    add_tuned("faiss-hnsw", index, build, double(code_size * database.size() + 4 * 32 * database.size()) / 1e6, efs,
              [index](int ef, idx_t k) -> std::string {
                if (ef < k && ef < 4096) return "";
                index->hnsw.efSearch = std::max(ef, int(k));
                return "faiss IndexBinaryHNSW M=16, efSearch=" + std::to_string(index->hnsw.efSearch);
              });
  }
  if (wanted(o, "faiss-multihash")) {
    // Norouzi et al.'s shape, MIH's starting point (MIH's own tuned count can be 1 table, with
    // which MultiHash finds almost nothing within a few flips).
    const int tables = default_mih_tables(int(8 * code_size), database.size()), b = int(8 * code_size) / tables;
    start = Clock::now();
    auto multi = std::make_unique<faiss::IndexBinaryMultiHash>(int(8 * code_size), tables, b);
    multi->add(n, faiss_database.data());
    const double build = seconds_since(start);
    auto* index = multi.get();
    keep.push_back(std::move(multi));
    add_tuned("faiss-multihash", index, build, 0, {0, 1, 2, 3}, [index, tables, b](int nflip, idx_t) {
      index->nflip = nflip;
      return "faiss IndexBinaryMultiHash " + std::to_string(tables) + "x" + std::to_string(b) + ", nflip=" + std::to_string(nflip);
    });
  }
  benchmark::AddCustomContext("faiss_compile_options", faiss::get_compile_options());
  benchmark::AddCustomContext("faiss_library", DEEPHASH_BENCH_FAISS_LIBRARY);
#else
  for (const std::string& c : o.contenders)
    if (c.rfind("faiss", 0) == 0) std::printf("%s: skipped, built without FAISS (-DDEEPHASH_FAISS_ROOT=<prefix>)\n", c.c_str());
  benchmark::AddCustomContext("faiss_library", "none: built without FAISS");
#endif

  benchmark::AddCustomContext("set", o.set);
  benchmark::AddCustomContext("set_about", one_line(set.about));
  benchmark::AddCustomContext("database_codes", std::to_string(database.size()));
  benchmark::AddCustomContext("bits", std::to_string(bits));
  benchmark::AddCustomContext("queries", std::to_string(nq));
  benchmark::AddCustomContext("search_threads", std::to_string(threads));
  benchmark::AddCustomContext("warmup_searches", std::to_string(o.warmup));
  benchmark::AddCustomContext("iterations", std::to_string(o.iterations));
  benchmark::AddCustomContext("search_budget_s", std::to_string(o.budget));
  benchmark::AddCustomContext("mih_tables", std::to_string(mih.tables()));
  benchmark::AddCustomContext("exactness", "flat and mih identical (ids, distances) on every query at every k before timing");
  benchmark::AddCustomContext("load_average_at_start", load_average());
  for (std::size_t ki = 0; ki < o.ks.size(); ++ki)
    for (const Row& r : rows[ki]) register_row(o, r, o.ks[ki]);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::printf("load average at the end: %s\n", load_average().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<char*> rest = {argv[0]};
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw Error(a, "needs a value");
        return argv[++i];
      };
      if (a == "--set") o.set = value();
      else if (a == "--cache") o.cache = value();
      else if (a == "--k") {
        o.ks.clear();
        for (const std::string& k : split(value())) o.ks.push_back(idx_t(std::stoll(k)));
      } else if (a == "--contenders") o.contenders = split(value());
      else if (a == "--warmup") o.warmup = std::stoi(value());
      else if (a == "--iterations") o.iterations = std::stoi(value());
      else if (a == "--recall") o.recall = std::stod(value());
      else if (a == "--queries") o.queries = std::stoul(value());
      else if (a == "--ivf-lists") o.ivf_lists = std::stoul(value());
      else if (a == "--budget") o.budget = std::stod(value());
      else if (a.rfind("--benchmark_", 0) == 0) rest.push_back(argv[i]);
      else throw Error(a, "unknown option (see the header of bench/bench_tables.cpp)");
    }
    if (o.set.empty()) throw Error("deephash_bench_tables", "--set NAME is required (a set written by deephash_bench_write_sets)");
    if (o.iterations < 1 || o.warmup < 0 || o.ks.empty() || !(o.budget > 0))
      throw Error("deephash_bench_tables", "--iterations >= 1, --warmup >= 0, --budget > 0 and some --k");
    const std::vector<std::string> all = Options{}.contenders;  // the default is every contender
    for (const std::string& c : o.contenders)
      if (std::find(all.begin(), all.end(), c) == all.end())
        throw Error(c, "is not a contender: flat, mih, faiss-flat, faiss-flat-wide, faiss-ivf, faiss-hnsw, faiss-multihash");
    int rest_argc = int(rest.size());
    return run_tables(o, rest_argc, rest.data());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
