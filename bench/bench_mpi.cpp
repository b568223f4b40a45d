// deephash_bench_mpi: what a job of N ranks buys over one process, measured by the same program
// both ways (bench/scaling.sh runs them one after the other and joins the JSON):
//   mpirun -np 1 deephash_bench_mpi  (DEEPHASH_NUM_THREADS=2): the single-process code paths
//   mpirun -np 2 deephash_bench_mpi  (DEEPHASH_NUM_THREADS=1): sharded search, sharded encode,
//                                     data-parallel training
// Every rank runs every benchmark for a fixed number of iterations (so that all make the same
// collective calls); an iteration's time is the slowest rank's (manual time), and rank 0 reports.
//
// Data as users have it: 64-bit codes clustered and tied like a trained model's (bench_common.hpp),
// DEEPHASH_BENCH_MPI_N of them (default 10^7), 1,024 queries; encoding runs the shipped
// Fashion-MNIST model over 28 x 28 images.

#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <cstdlib>
#include <string>
#include <vector>

#include <deephash/data/sources/memory_source.hpp>
#include <deephash/data/subset_source.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/mpi/sharded_index.hpp>
#include <deephash/nn/architectures.hpp>
#include <deephash/nn/trainer.hpp>
#include <deephash/workflow/encoding.hpp>

#include "bench_common.hpp"

using namespace deephash;

namespace {

mpi::Communicator* g_comm = nullptr;

// Runs fn() on every rank; the iteration's time is the slowest rank's.
template <class Fn>
void time_collectively(benchmark::State& state, Fn&& fn) {
  for (auto _ : state) {
    g_comm->barrier();
    const auto start = std::chrono::steady_clock::now();
    fn();
    std::uint64_t ns = std::uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    g_comm->allreduce_max(&ns, 1);
    state.SetIterationTime(double(ns) * 1e-9);
  }
  state.counters["ranks"] = g_comm->size();
  state.counters["threads_per_rank"] = bench::bench_threads();
}

std::size_t database_size() {
  const char* n = std::getenv("DEEPHASH_BENCH_MPI_N");
  return n ? std::size_t(std::atoll(n)) : std::size_t(10'000'000);
}

// The collection's codes, the same on every rank; this rank's part of them, under global ids.
struct ShardedDatabase {
  std::unique_ptr<BinaryIndex> single;       // one process: the plain index
  std::unique_ptr<mpi::ShardedIndex> sharded;  // several: each rank's shard
  BitCodes queries;
  const BinaryIndex& index() const { return single ? *single : static_cast<const BinaryIndex&>(*sharded); }
};

const ShardedDatabase& database(const std::string& kind) {
  static std::map<std::string, ShardedDatabase> cache;  // built once per kind for every k
  auto found = cache.find(kind);
  if (found != cache.end()) return found->second;
  ShardedDatabase& db = cache[kind];
  const std::size_t n = database_size();
  const BitCodes all = bench::clustered_codes(n, 64, 1);
  db.queries = bench::clustered_codes(1024, 64, 2);
  const unsigned threads = bench::bench_threads();
  if (g_comm->size() == 1) {
    db.single = kind == "mih" ? std::unique_ptr<BinaryIndex>(std::make_unique<MultiIndexHashing>(64, 0, threads))
                              : std::make_unique<HammingIndex>(64, threads);
    db.single->add(all);
  } else {
    const auto [first, last] = slice_of(n, g_comm->rank(), g_comm->size());
    mpi::EncodedShard shard;
    shard.set.codes = all.slice(first, last);
    shard.first = idx_t(first);
    shard.total = n;
    db.sharded = mpi::index_encoded_shards(*g_comm, shard, kind, threads);
  }
  return db;
}

void BM_ShardedSearch(benchmark::State& state, const std::string& kind) {
  const ShardedDatabase& db = database(kind);
  const idx_t k = state.range(0);
  time_collectively(state, [&] { benchmark::DoNotOptimize(db.index().search(db.queries, k)); });
  state.counters["codes"] = double(db.index().size());
  state.counters["queries_per_s"] = benchmark::Counter(double(db.queries.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_ShardedSearch, flat, std::string("flat"))
    ->ArgName("k")->Arg(1)->Arg(10)->Arg(1000)->Iterations(5)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ShardedSearch, mih, std::string("mih"))
    ->ArgName("k")->Arg(1)->Arg(10)->Arg(1000)->Iterations(5)->UseManualTime()->Unit(benchmark::kMillisecond);

// Encoding 4,096 images with the shipped Fashion-MNIST model: each rank its slice.
void BM_ShardedEncode(benchmark::State& state) {
  const HashingModel model = load_model(std::string(DEEPHASH_SOURCE_DIR) + "/examples/models/fashion-mnist-48bit/model.dhm");
  auto frontend = model.make_frontend(bench::bench_threads(), "fashion-mnist-48bit");
  ImageDataset images;
  images.height = images.width = 28;
  images.channels = 1;
  images.class_names = {"x"};
  std::mt19937_64 rng(3);
  const std::size_t n = 4096;
  for (std::size_t i = 0; i < n; ++i) {
    images.labels.push_back(0);
    for (int p = 0; p < 28 * 28; ++p) images.pixels.push_back(std::uint8_t(rng()));
  }
  const auto all = std::make_shared<MemorySource>(images, "synthetic");
  const auto [first, last] = slice_of(n, g_comm->rank(), g_comm->size());
  std::vector<std::size_t> items;
  for (std::size_t i = first; i < last; ++i) items.push_back(i);
  const SubsetSource mine(all, items, "synthetic (slice)");
  EncodeOptions o;
  o.show_progress = false;
  time_collectively(state, [&] { benchmark::DoNotOptimize(encode_source(*frontend, mine, {"synthetic", "all", ""}, o)); });
  state.counters["images_per_s"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ShardedEncode)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

// Training the Fashion-MNIST network, global batch 64, 30 steps per iteration (after 5 of warm-up):
// one process trains the whole batch, each of N ranks its 64 / N images (nn/trainer.hpp).
void BM_DataParallelTrain(benchmark::State& state) {
  const int batch = 64, steps = 30, warm_up = 5;
  ImageDataset images;
  images.height = images.width = 28;
  images.channels = 1;
  for (int c = 0; c < 10; ++c) images.class_names.push_back("c" + std::to_string(c));
  std::mt19937_64 rng(5);
  const std::size_t n = std::size_t(batch) * 50;
  for (std::size_t i = 0; i < n; ++i) {
    images.labels.push_back(int(i % 10));
    for (int p = 0; p < 28 * 28; ++p) images.pixels.push_back(std::uint8_t((p / 28 / 3 == int(i % 10) ? 180 : 30) + rng() % 60));
  }
  nn::ArchitectureOptions arch;
  arch.batch = batch / g_comm->size();
  nn::Net<float> net(nn::fashion_mnist_net(arch), nn::Phase::Train, nn::NetOptions::seeded(1));
  nn::SolverSpec spec;
  spec.base_lr = 0.01f;
  nn::SgdSolver<float> solver(net, spec);
  nn::TrainOptions o;
  o.batch_size = batch;
  o.transform.crop = 28;
  o.transform.pad = 2;
  o.transform.mirror = Mirror::random;
  o.transform.mean_values = {72};
  o.transform.scale = 1 / 90.0f;
  o.show_progress = false;
  o.collective = g_comm->size() > 1 ? g_comm : nullptr;
  ThreadPool pool(bench::bench_threads());
  const MemorySource source(images);
  nn::train(net, solver, source, o, warm_up, pool);
  time_collectively(state, [&] { nn::train(net, solver, source, o, solver.iteration() + steps, pool); });
  state.counters["images_per_s"] = benchmark::Counter(double(batch) * steps, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DataParallelTrain)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

// Ranks other than 0 run the benchmarks and report nothing.
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment environment(argc, argv);
  mpi::Communicator comm;
  g_comm = &comm;
  // Only rank 0 writes --benchmark_out.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i)
    if (comm.rank() == 0 || std::string(argv[i]).rfind("--benchmark_out", 0) != 0) args.push_back(argv[i]);
  int count = int(args.size());
  benchmark::Initialize(&count, args.data());
  if (comm.rank() == 0) {
    benchmark::AddCustomContext("ranks", std::to_string(comm.size()));
    benchmark::RunSpecifiedBenchmarks();
  } else {
    Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}
