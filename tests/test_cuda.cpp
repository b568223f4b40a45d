// The GPU module against the CPU: every layer's forward and backward, a full training step, and
// Hamming search. Exits with 77 (reported as skipped by CTest) when no usable GPU is there; on
// these machines cudaGetDeviceCount returns an error rather than 0.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include <deephash/cuda/gpu_hamming_index.hpp>
#include <deephash/cuda/gpu_net.hpp>
#include <deephash/nn/architectures.hpp>
#include <deephash/nn/net.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/search/hamming_index.hpp>

#include "support.hpp"

using namespace deephash;
using namespace deephash::nn;

int main(int argc, char** argv) {
  std::string why;
  if (!deephash::cuda::available(&why)) {
    std::printf("test_cuda skipped: %s\n", why.c_str());
    return 77;
  }
  const auto info = deephash::cuda::device_info();
  std::printf("GPU: %s, %d multiprocessors, %zu MiB, compute %d.%d\n", info.name.c_str(), info.multiprocessors,
              info.memory_bytes >> 20, info.compute_major, info.compute_minor);
  doctest::Context context(argc, argv);
  return context.run();
}

namespace {

// Worst |a - b| / (max |b| + tiny) over two arrays of the same size.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0, scale = 1e-12;
  for (float v : b) scale = std::max(scale, double(std::abs(v)));
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst / scale;
}

std::vector<float> random_values(std::size_t n, std::uint64_t seed, float scale = 1) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, scale);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return v;
}

// One layer under test between the input and a fixed classifier with a softmax loss, so that
// backward has a loss to start from; CPU and GPU must agree on the loss, the layer's output, and
// every gradient. The layer reads "data" unless it names its inputs, which `before` (layers
// between the input and it) then makes; learnable layers there check the gradient it passes back.
void compare(LayerSpec layer, std::vector<int> input_shape, double tolerance = 1e-4,
             const std::vector<LayerSpec>& before = {}) {
  NetBuilder b("probe");
  b.input("data", input_shape);
  b.input("label", {input_shape[0]});
  if (layer.bottoms.empty()) layer.bottoms = {"data"};
  if (layer.tops.empty()) layer.tops = {"probe_out"};
  const std::string out = layer.tops[0];
  NetSpec spec = b.spec();
  spec.layers.insert(spec.layers.end(), before.begin(), before.end());
  spec.layers.push_back(layer);
  spec.layers.push_back([&] {
    LayerSpec ip;
    ip.name = "classifier";
    ip.type = "InnerProduct";
    ip.bottoms = {out};
    ip.tops = {"scores"};
    ip.inner_product = {5, true, 1, gaussian_filler(0.3f), gaussian_filler(0.1f)};
    return ip;
  }());
  LayerSpec loss;
  loss.name = "loss";
  loss.type = "SoftmaxWithLoss";
  loss.bottoms = {"scores", "label"};
  loss.tops = {"loss"};
  loss.softmax.label_smoothing = 0.1f;  // the GPU's smoothed target too
  spec.layers.push_back(loss);

  Net<float> cpu(spec, Phase::Train);
  cuda::GpuNet gpu(spec, Phase::Train);
  const std::vector<float> data = random_values(cpu.blob("data").count(), 11);
  std::vector<float> labels(static_cast<std::size_t>(input_shape[0]));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = float(i % 5);
  std::copy(data.begin(), data.end(), cpu.blob("data").data());
  std::copy(labels.begin(), labels.end(), cpu.blob("label").data());
  gpu.set_input("data", input_shape, data.data());
  gpu.set_input("label", {input_shape[0]}, labels.data());

  INFO("layer " << layer.type << " " << layer.name);
  const float cpu_loss = cpu.forward(RunContext{Phase::Train});
  const float gpu_loss = gpu.forward();
  CHECK(gpu_loss == doctest::Approx(cpu_loss).epsilon(tolerance));
  const std::vector<float> cpu_out(cpu.blob(out).data(), cpu.blob(out).data() + cpu.blob(out).count());
  CHECK(relative_error(gpu.blob_data(out), cpu_out) < tolerance);
  cpu.zero_param_diffs();
  cpu.backward(RunContext{Phase::Train});
  gpu.backward();
  const auto gpu_grads = gpu.weight_gradients();
  auto params = cpu.learnable_params();
  std::size_t k = 0;
  for (const auto& lw : gpu_grads)
    for (const auto& blob : lw.blobs) {
      const Blob<float>& p = *params[k++].blob;
      INFO("gradient of " << lw.layer);
      CHECK(relative_error(blob.data, std::vector<float>(p.diff(), p.diff() + p.count())) < tolerance);
    }
}

LayerSpec layer_of(const std::string& type) {
  LayerSpec s;
  s.name = "probe";
  s.type = type;
  return s;
}

// A learnable per-channel scale from "data" to `top`, random so that branches differ.
LayerSpec scale_branch(const std::string& top) {
  LayerSpec s = layer_of("Scale");
  s.name = top;
  s.bottoms = {"data"};
  s.tops = {top};
  s.scale.bias_term = true;
  s.scale.filler = gaussian_filler(1);
  s.scale.bias_filler = gaussian_filler(0.5f);
  return s;
}

}  // namespace

TEST_CASE("every layer: GPU forward and backward match the CPU") {
  LayerSpec conv = layer_of("Convolution");
  conv.convolution = {6, true, 3, 3, 2, 2, 1, 1, 1, 2, gaussian_filler(0.3f), gaussian_filler(0.1f)};
  compare(conv, {3, 4, 9, 9});
  conv.convolution = {4, false, 1, 1, 1, 1, 0, 0, 1, 1, gaussian_filler(0.3f), {}};
  compare(conv, {2, 3, 5, 5});
  for (auto method : {PoolingSpec::Method::Max, PoolingSpec::Method::Average}) {
    LayerSpec pool = layer_of("Pooling");
    pool.pooling = {method, 3, 3, 2, 2, 1, 1, false};
    compare(pool, {2, 3, 8, 8});
  }
  LayerSpec relu = layer_of("ReLU");
  relu.relu.negative_slope = 0.1f;
  compare(relu, {4, 6});
  compare(layer_of("Sigmoid"), {4, 6});
  LayerSpec lrn = layer_of("LRN");
  lrn.lrn = {5, 0.1f, 0.75f, 2.0f};
  compare(lrn, {2, 7, 3, 3});
  LayerSpec ip = layer_of("InnerProduct");
  ip.inner_product = {7, true, 1, gaussian_filler(0.3f), gaussian_filler(0.1f)};
  compare(ip, {4, 3, 2, 2});
  LayerSpec latent = layer_of("Latent");
  latent.latent.num_output = 12;
  latent.latent.weight_filler = gaussian_filler(0.3f);
  latent.latent.binarization_weight = 0.5f;
  latent.latent.balance_weight = 0.7f;
  latent.tops = {"probe_out", "ssdh_loss"};
  compare(latent, {6, 10});
  compare(layer_of("BatchNorm"), {4, 3, 2, 2});
  LayerSpec scale = layer_of("Scale");
  scale.scale.bias_term = true;
  scale.scale.filler = gaussian_filler(1);
  compare(scale, {4, 3, 2, 2});
  compare(layer_of("Softmax"), {4, 6});
  LayerSpec floor_pool = layer_of("Pooling");
  floor_pool.pooling = {PoolingSpec::Method::Average, 3, 3, 2, 2, 1, 1, false, PoolingSpec::RoundMode::Floor};
  compare(floor_pool, {2, 3, 8, 8});
}

TEST_CASE("Concat, Flatten and Reshape: GPU forward and backward match the CPU") {
  // Three branches with learnable scales joined along the channels, the height and the last axis:
  // the scales' gradients check what Concat passes back to each input.
  const std::vector<LayerSpec> branches{scale_branch("a"), scale_branch("b"), scale_branch("c")};
  for (int axis : {1, 2, -1}) {  // (not the batch: the labels give it)
    LayerSpec concat = layer_of("Concat");
    concat.bottoms = {"a", "b", "c"};
    concat.concat.axis = axis;
    compare(concat, {3, 2, 4, 5}, 1e-4, branches);
  }
  LayerSpec flatten = layer_of("Flatten");
  flatten.bottoms = {"a"};
  flatten.flatten = {2, 3};
  compare(flatten, {3, 2, 4, 5}, 1e-4, {branches[0]});
  LayerSpec reshape = layer_of("Reshape");
  reshape.bottoms = {"a"};
  reshape.reshape = {{0, -1, 5}, 0, -1};
  compare(reshape, {3, 2, 4, 5}, 1e-4, {branches[0]});
}

TEST_CASE("a full training step of the Fashion-MNIST network gives the same weights") {
  ArchitectureOptions o;
  o.bits = 16;
  o.batch = 8;
  const NetSpec spec = fashion_mnist_net(o);
  Net<float> cpu(spec, Phase::Train);
  cuda::GpuNet gpu(spec, Phase::Train);
  const std::vector<float> data = random_values(8 * 28 * 28, 21);
  const std::vector<float> labels = {0, 1, 2, 3, 4, 5, 6, 7};
  std::copy(data.begin(), data.end(), cpu.blob("data").data());
  std::copy(labels.begin(), labels.end(), cpu.blob("label").data());
  gpu.set_input("data", {8, 1, 28, 28}, data.data());
  gpu.set_input("label", {8}, labels.data());
  SolverSpec s;
  s.base_lr = 0.05f;
  SgdSolver<float> cpu_solver(cpu, s);
  cuda::GpuSgdSolver gpu_solver(gpu, s);
  const float cpu_loss = cpu.forward(RunContext{Phase::Train});
  const float gpu_loss = gpu.forward();
  CHECK(gpu_loss == doctest::Approx(cpu_loss).epsilon(1e-4));
  cpu.backward(RunContext{Phase::Train});
  gpu.backward();
  cpu_solver.step();
  gpu_solver.step();
  const auto a = cpu.weights(), b = gpu.weights();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].blobs.size(); ++j) {
      INFO(a[i].layer << " blob " << j);
      CHECK(relative_error(b[i].blobs[j].data, a[i].blobs[j].data) < 1e-4);
    }
}

TEST_CASE("GPU Hamming search returns exactly the CPU's results") {
  std::uint64_t seed = 1;
  for (int bits : {12, 48, 64, 130, 256, 1000}) {
    const BitCodes db = test::random_codes(5000, bits, seed++, 300);
    const BitCodes queries = test::random_codes(37, bits, seed++, 300);
    HammingIndex cpu(bits);
    cpu.add(db);
    cuda::GpuHammingIndex gpu(bits);
    gpu.add(db);
    for (idx_t k : {idx_t(1), idx_t(10), idx_t(1000), idx_t(5005)}) {
      INFO("bits " << bits << " k " << k);
      const KnnResult a = cpu.search(queries, k), b = gpu.search(queries, k);
      CHECK(a.labels == b.labels);
      CHECK(a.distances == b.distances);
    }
    const RangeSearchResult a = cpu.range_search(queries, bits / 5), b = gpu.range_search(queries, bits / 5);
    CHECK(a.lims == b.lims);
    CHECK(a.labels == b.labels);
    CHECK(a.distances == b.distances);
  }
  cuda::GpuHammingIndex empty(32);
  const KnnResult r = empty.search(test::random_codes(2, 32, 9), 3);
  CHECK(r.labels == std::vector<idx_t>(6, kMissingLabel));
  CHECK_THROWS_WITH_AS(empty.search(test::random_codes(2, 64, 9), 3), doctest::Contains("code lengths differ"), Error);
}

TEST_CASE("the GPU index keeps the BinaryIndex contract: ids of one's own, removal, save") {
  const BitCodes db = test::random_codes(4000, 48, 31, 200);
  std::vector<idx_t> ids(db.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = idx_t((i * 7919) % 100000) * 3;  // shuffled, unique
  HammingIndex cpu(48);
  cuda::GpuHammingIndex gpu(48);
  for (BinaryIndex* index : {static_cast<BinaryIndex*>(&cpu), static_cast<BinaryIndex*>(&gpu)}) {
    index->add_with_ids(db, ids);
    CHECK(index->remove_ids({ids[5], ids[99], ids[3000], -1}) == 3);
  }
  const BitCodes queries = test::random_codes(20, 48, 32, 200);
  const KnnResult a = cpu.search(queries, 50), b = gpu.search(queries, 50);
  CHECK(a.labels == b.labels);
  CHECK(a.distances == b.distances);
  CHECK(cpu.range_search(queries, 10).labels == gpu.range_search(queries, 10).labels);
  test::TempDir dir;
  gpu.save(dir.file("gpu.dhx"));
  const auto loaded = load_index(dir.file("gpu.dhx"));
  CHECK(loaded->kind() == "flat");
  CHECK(loaded->search(queries, 50).labels == a.labels);
}

TEST_CASE("GPU Hamming search at its limits: 4096-bit codes, more queries than a grid's y extent, budgeted range search") {
  auto same_as_cpu = [](const BitCodes& db, const BitCodes& queries, idx_t k, int radius) {
    HammingIndex cpu(db.bits());
    cpu.add(db);
    cuda::GpuHammingIndex gpu(db.bits());
    gpu.add(db);
    const KnnResult a = cpu.search(queries, k), b = gpu.search(queries, k);
    CHECK(a.labels == b.labels);
    CHECK(a.distances == b.distances);
    const RangeSearchResult ra = cpu.range_search(queries, radius), rb = gpu.range_search(queries, radius);
    CHECK(ra.lims == rb.lims);
    CHECK(ra.labels == rb.labels);
    return rb.lims.back();
  };
  // 4096 bits: the distance counts need more than the default 48 KB of shared memory per block.
  same_as_cpu(test::random_codes(3000, 4096, 21, 50), test::random_codes(9, 4096, 22, 50), 20, 1900);
  // 300,000 queries: 75,000 groups of 4, past the 65,535 blocks a grid's y dimension holds; the
  // radius takes every code.
  CHECK(same_as_cpu(test::random_codes(64, 32, 23, 16), test::random_codes(300000, 32, 24, 64), 5, 32) ==
        std::size_t(300000) * 64);
}
