// The GPU module: Hamming search over the same 1,000,000 codes as the CPU benchmarks, and
// training throughput of the networks (KevinNet at batch 32 and 128). Skips cleanly (exit 77)
// where no GPU can be used. items_per_second counts query x database pairs for search and
// images for training.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>

#include <deephash/cuda/gpu_hamming_index.hpp>
#include <deephash/cuda/gpu_net.hpp>
#include <deephash/nn/architectures.hpp>

#include "bench_common.hpp"

namespace {

using namespace deephash;

constexpr std::size_t kDatabase = 1'000'000, kQueries = 256;

void BM_GpuHammingKnn(benchmark::State& state) {
  const int bits = int(state.range(0));
  const idx_t k = idx_t(state.range(1));
  // The same codes (same seeds) as BM_HammingKnn in deephash_bench.
  const BitCodes db = bench::random_codes(kDatabase, bits, 1000 + std::uint64_t(bits));
  const BitCodes queries = bench::random_codes(kQueries, bits, 2000 + std::uint64_t(bits));
  cuda::GpuHammingIndex index(bits);
  index.add(db);
  for (auto _ : state) {
    const KnnResult r = index.search(queries, k);
    benchmark::DoNotOptimize(r.labels.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations() * kQueries * kDatabase));
}

void gpu_train(benchmark::State& state, const nn::NetSpec& spec, std::vector<int> input, int classes) {
  cuda::GpuNet net(spec, nn::Phase::Train, {}, state.range(1) == 0 ? cuda::MathMode::FP32 : state.range(1) == 1 ? cuda::MathMode::TF32 : cuda::MathMode::BF16);
  std::size_t count = 1;
  for (int d : input) count *= std::size_t(d);
  std::vector<float> data(count), labels(static_cast<std::size_t>(input[0]));
  std::mt19937_64 rng(1);
  std::normal_distribution<float> g(0, 50);
  for (float& v : data) v = g(rng);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = float(i % std::size_t(classes));
  net.set_input("data", input, data.data());
  net.set_input("label", {input[0]}, labels.data());
  cuda::GpuSgdSolver solver(net, nn::SolverSpec{});
  std::uint64_t seed = 0;
  for (auto _ : state) {
    net.forward(seed++);
    net.backward();
    solver.step();
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * input[0]);
}

void BM_GpuTrainKevinNet(benchmark::State& state) {
  nn::ArchitectureOptions o;
  o.batch = int(state.range(0));
  gpu_train(state, nn::kevin_net(o), {o.batch, 3, 227, 227}, 10);
}
void BM_GpuTrainCifarNet(benchmark::State& state) {
  nn::ArchitectureOptions o;
  o.batch = int(state.range(0));
  gpu_train(state, nn::cifar_net(o), {o.batch, 3, 32, 32}, 10);
}


}  // namespace

BENCHMARK(BM_GpuHammingKnn)->Apply(bench::knn_args);
// Second argument: 0 FP32, 1 TF32, 2 BF16 matrix products.
BENCHMARK(BM_GpuTrainKevinNet)->ArgNames({"batch", "math"})->Args({32, 0})->Args({128, 0})->Args({128, 1})->Args({128, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GpuTrainCifarNet)->ArgNames({"batch", "math"})->Args({128, 0})->Args({128, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  std::string why;
  if (!cuda::available(&why)) {
    std::printf("deephash_bench_cuda skipped: %s\n", why.c_str());
    return 77;
  }
  const auto info = cuda::device_info();
  benchmark::AddCustomContext("gpu", info.name);
  benchmark::AddCustomContext("gpu_multiprocessors", std::to_string(info.multiprocessors));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
