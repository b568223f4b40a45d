// The CNN on the CPU: KevinNet's forward pass (227x227, batch 32) next to OpenCV dnn's on the
// same net and weights, training steps of the Fashion-MNIST and CIFAR networks, and the forward
// + backward time of every layer. items_per_second counts images.

#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>

#include <deephash/io/caffe/prototxt.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/nn/architectures.hpp>
#include <deephash/nn/deploy.hpp>
#include <deephash/nn/solver.hpp>

#include "bench_common.hpp"

#ifdef DEEPHASH_HAVE_OPENCV_DNN
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#endif

namespace {

using namespace deephash;
using namespace deephash::nn;

NetSpec kevin_deploy(int batch) {
  ArchitectureOptions o;
  o.batch = batch;
  return prune_for_outputs(kevin_net(o), {"fc8_kevin_encode"}, Phase::Test);
}

void random_input(Blob<float>& b, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 50);
  for (std::size_t i = 0; i < b.count(); ++i) b.data()[i] = g(rng);
}

void BM_KevinNetForward(benchmark::State& state) {
  const int batch = int(state.range(0));
  Net<float> net(kevin_deploy(batch), Phase::Test);
  random_input(net.blob("data"), 1);
  ThreadPool pool(bench::bench_threads());
  const RunContext ctx{Phase::Test, &pool, nullptr};
  for (auto _ : state) {
    net.forward(ctx);
    benchmark::DoNotOptimize(net.blob("fc8_kevin_encode").data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * batch);
  state.counters["threads"] = bench::bench_threads();
  state.counters["ms_per_image"] = benchmark::Counter(double(batch) * 1e-3,
                                                      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

#ifdef DEEPHASH_HAVE_OPENCV_DNN
// The same topology and random weights, written as a Caffe model and read by OpenCV.
void BM_OpenCvKevinNetForward(benchmark::State& state) {
  const int batch = int(state.range(0));
  Net<float> ours(kevin_deploy(batch), Phase::Test);
  const auto dir = std::filesystem::temp_directory_path() / "deephash-bench-kevinnet";
  std::filesystem::create_directories(dir);
  const std::string prototxt = (dir / "deploy.prototxt").string(), weights = (dir / "random.caffemodel").string();
  save_caffe_prototxt(prototxt, kevin_deploy(batch));
  write_caffemodel(weights, kevin_deploy(batch), ours.weights(), CaffeFormat::Current);
  cv::setNumThreads(int(bench::bench_threads()));
  cv::dnn::Net net = cv::dnn::readNetFromCaffe(prototxt, weights);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  const int shape[] = {batch, 3, 227, 227};
  cv::Mat input(4, shape, CV_32F);
  cv::randn(input, 0, 50);
  net.setInput(input, "data");
  for (auto _ : state) {
    cv::Mat out = net.forward("fc8_kevin_encode");
    benchmark::DoNotOptimize(out.data);
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(std::int64_t(state.iterations()) * batch);
  state.counters["threads"] = bench::bench_threads();
  state.counters["ms_per_image"] = benchmark::Counter(double(batch) * 1e-3,
                                                      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
#endif

// One SGD step (forward, backward, update) on random images; with `bf16`, the convolutions'
// products on bfloat16 operands (RunContext::bf16_products).
void train_steps(benchmark::State& state, const NetSpec& spec, int batch, int classes, bool bf16 = false) {
  Net<float> net(spec, Phase::Train);
  random_input(net.blob("data"), 2);
  for (int i = 0; i < batch; ++i) net.blob("label").data()[i] = float(i % classes);
  SgdSolver<float> solver(net, SolverSpec{});
  ThreadPool pool(bench::bench_threads());
  std::mt19937_64 rng(3);
  RunContext ctx{Phase::Train, &pool, &rng};
  ctx.bf16_products = bf16;
  auto step = [&] {
    net.forward(ctx);
    net.backward(ctx);
    solver.step();
  };
  // A training run takes thousands of steps: time them, not the first steps' allocations.
  for (int i = 0; i < 3; ++i) step();
  for (auto _ : state) step();
  state.SetItemsProcessed(std::int64_t(state.iterations()) * batch);
  state.counters["threads"] = bench::bench_threads();
}

void BM_TrainFashionMnistNet(benchmark::State& state) {
  ArchitectureOptions o;
  o.batch = int(state.range(0));
  train_steps(state, fashion_mnist_net(o), o.batch, 10, state.range(1) != 0);
}
void BM_TrainCifarNet(benchmark::State& state) {
  ArchitectureOptions o;
  o.batch = int(state.range(0));
  train_steps(state, cifar_net(o), o.batch, 10, state.range(1) != 0);
}
void BM_TrainKevinNet(benchmark::State& state) {
  ArchitectureOptions o;
  o.batch = int(state.range(0));
  train_steps(state, kevin_net(o), o.batch, 10);
}

// Forward + backward of one layer, inside its net (so its inputs have realistic shapes).
void layer_time(benchmark::State& state, NetSpec spec, std::size_t layer, bool bf16 = false) {
  Net<float> net(spec, Phase::Train);
  random_input(net.blob("data"), 4);
  for (std::size_t i = 0; i < net.blob("label").count(); ++i) net.blob("label").data()[i] = float(i % 10);
  ThreadPool pool(bench::bench_threads());
  std::mt19937_64 rng(5);
  RunContext ctx{Phase::Train, &pool, &rng};
  ctx.bf16_products = bf16;
  net.forward(ctx);
  net.backward(ctx);
  // After one pass of the whole net, this layer alone, on the same data.
  Layer<float>& l = net.layer(layer);
  const std::vector<Blob<float>*> bottom = net.layer_inputs(layer), top = net.layer_outputs(layer);
  std::vector<bool> propagate(bottom.size());
  for (std::size_t b = 0; b < bottom.size(); ++b) propagate[b] = l.can_propagate(b) && bottom[b] != &net.blob("data");
  for (auto _ : state) {
    l.forward(bottom, top, ctx);
    l.backward(top, propagate, bottom, ctx);
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * net.blob("data").shape(0));
}

// Registers one benchmark per layer of the nets, named after the layers; the convolutions and
// inner products again with bf16 products (".../bf16") where the CPU has them.
const bool kLayersRegistered = [] {
  ArchitectureOptions fm;
  fm.batch = 64;
  ArchitectureOptions kn;
  kn.batch = 32;
  for (const auto& [name, net] : {std::make_pair(std::string("fashion_mnist"), fashion_mnist_net(fm)),
                                  std::make_pair(std::string("cifar"), cifar_net(fm)),
                                  std::make_pair(std::string("kevinnet"), kevin_net(kn))}) {
    const NetSpec spec = net;  // a copy the benchmarks keep (C++17 lambdas cannot capture a structured binding)
    Net<float> probe(spec, Phase::Train);
    for (std::size_t i = 0; i < probe.num_layers(); ++i) {
      const std::string layer = probe.layer(i).name();
      if (probe.layer(i).type() == "Split") continue;
      benchmark::RegisterBenchmark(("BM_LayerForwardBackward/" + name + "/" + layer).c_str(),
                                   [spec, i](benchmark::State& s) { layer_time(s, spec, i); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      const std::string type = probe.layer(i).type();
      if (!bf16::available() || (type != "Convolution" && type != "InnerProduct")) continue;
      benchmark::RegisterBenchmark(("BM_LayerForwardBackward/" + name + "/" + layer + "/bf16").c_str(),
                                   [spec, i](benchmark::State& s) { layer_time(s, spec, i, true); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  return true;
}();

}  // namespace

BENCHMARK(BM_KevinNetForward)->ArgName("batch")->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
#ifdef DEEPHASH_HAVE_OPENCV_DNN
BENCHMARK(BM_OpenCvKevinNetForward)->ArgName("batch")->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
#endif
// bf16:1 (bfloat16 products in the convolutions and inner products) only where the CPU has
// AVX-512 BF16.
static void with_bf16_where_available(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "bf16"})->Args({64, 0});
  if (deephash::nn::bf16::available()) b->Args({64, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_TrainFashionMnistNet)->Apply(with_bf16_where_available);
BENCHMARK(BM_TrainCifarNet)->Apply(with_bf16_where_available);
BENCHMARK(BM_TrainKevinNet)->ArgName("batch")->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
