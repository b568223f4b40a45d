// Every layer: backward against numerical gradients (in double), forward against direct
// computations of the definitions, and Caffe's shape rules.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

#include <deephash/nn/gradient_check.hpp>
#include <deephash/nn/layer_factory.hpp>
#include <deephash/nn/patch_whitening.hpp>

#include "support.hpp"

using namespace deephash;
using namespace deephash::nn;

namespace {

using B = Blob<double>;

void randomize(B& b, std::uint64_t seed, double scale = 1.0) { test::fill_normal(b, seed, 0.0, scale); }

// Values far from each other (max pooling, max eltwise) or from 0 (ReLU), so that a small
// step never crosses a kink.
void randomize_distinct(B& b, std::uint64_t seed) {
  std::vector<double> v(b.count());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = (double(i) - double(v.size()) / 2 + 0.5) * 0.01;
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  std::copy(v.begin(), v.end(), b.data());
}

LayerSpec spec(const std::string& type, int tops = 1) {
  LayerSpec s;
  s.name = "l";
  s.type = type;
  s.bottoms = {"x"};
  for (int t = 0; t < tops; ++t) s.tops.push_back("y" + std::to_string(t));
  return s;
}

void expect_gradients(const LayerSpec& s, std::vector<B*> bottom, std::size_t tops = 1,
                      std::vector<bool> check = {true}, Phase phase = Phase::Train, double tolerance = 1e-6) {
  auto layer = make_layer<double>(s);
  std::vector<std::unique_ptr<B>> owned;
  std::vector<B*> top;
  for (std::size_t t = 0; t < tops; ++t) {
    owned.push_back(std::make_unique<B>());
    top.push_back(owned.back().get());
  }
  const GradientCheckResult r = check_gradients(*layer, bottom, top, check, phase);
  INFO(s.type << ": worst at " << r.worst);
  CHECK(r.checked > 0);
  CHECK(r.max_relative_error < tolerance);
}

// The layer of `s`, set up and shaped for these inputs and outputs.
std::unique_ptr<Layer<double>> set_up(const LayerSpec& s, const std::vector<B*>& bottom, const std::vector<B*>& top) {
  auto layer = make_layer<double>(s);
  std::mt19937_64 rng;
  layer->setup(bottom, rng);
  layer->reshape(bottom, top);
  return layer;
}

FillerSpec gaussian(float std) { return FillerSpec{"gaussian", 0, 0, 1, 0, std}; }

// Direct convolution, the definition, for comparison with im2col + GEMM.
double direct_conv(const B& x, const B& w, const B* bias, const ConvolutionSpec& c, int n, int o, int oy, int ox) {
  const int cin = x.shape(1) / c.group, og = c.num_output / c.group, g = o / og;
  double sum = bias ? bias->data()[o] : 0;
  for (int ci = 0; ci < cin; ++ci)
    for (int ky = 0; ky < c.kernel_h; ++ky)
      for (int kx = 0; kx < c.kernel_w; ++kx) {
        const int y = oy * c.stride_h - c.pad_h + ky * c.dilation, xx = ox * c.stride_w - c.pad_w + kx * c.dilation;
        if (y < 0 || y >= x.shape(2) || xx < 0 || xx >= x.shape(3)) continue;
        sum += w.data()[((std::size_t(o) * cin + ci) * c.kernel_h + ky) * c.kernel_w + kx] *
               x.data()[((std::size_t(n) * x.shape(1) + g * cin + ci) * x.shape(2) + y) * x.shape(3) + xx];
      }
  return sum;
}

}  // namespace

TEST_CASE("convolution: im2col + GEMM and Winograd equal the direct definition, and gradients check") {
  struct Case { int cin, h, w, cout, k, stride, pad, group, dilation; bool bias; };
  // The 3x3 stride-1 single-group cases with 16 or more input channels take Winograd's F(2x2, 3x3):
  // odd and even sizes (partial 2x2 output blocks), no padding, padding 2, a 1x1 image, and a 3x3
  // image with no padding.
  const Case cases[] = {{3, 7, 6, 4, 3, 1, 1, 1, 1, true}, {4, 9, 9, 6, 3, 2, 0, 2, 1, true},
                        {2, 8, 7, 3, 5, 3, 2, 1, 1, false}, {4, 5, 5, 4, 1, 1, 0, 2, 1, true},
                        {2, 9, 9, 2, 3, 1, 2, 1, 2, true}, {6, 6, 6, 6, 3, 2, 1, 3, 1, true},
                        {16, 5, 8, 3, 3, 1, 0, 1, 1, true}, {17, 6, 9, 3, 3, 1, 2, 1, 1, false},
                        {16, 1, 1, 2, 3, 1, 1, 1, 1, true}, {16, 3, 3, 2, 3, 1, 0, 1, 1, true},
                        {20, 4, 4, 5, 3, 1, 1, 1, 1, true}};
  for (const Case& c : cases) {
    LayerSpec s = spec("Convolution");
    s.convolution = {c.cout, c.bias, c.k, c.k, c.stride, c.stride, c.pad, c.pad, c.dilation, c.group, gaussian(1), gaussian(1)};
    B x({2, c.cin, c.h, c.w}), y;
    randomize(x, 1);
    auto layer = make_layer<double>(s);
    std::mt19937_64 rng(3);
    layer->setup({&x}, rng);
    layer->reshape({&x}, {&y});
    layer->forward({&x}, {&y}, RunContext{});
    const int oh = (c.h + 2 * c.pad - (c.dilation * (c.k - 1) + 1)) / c.stride + 1;
    REQUIRE(y.shape() == std::vector<int>{2, c.cout, oh, oh == (c.w + 2 * c.pad - (c.dilation * (c.k - 1) + 1)) / c.stride + 1 ? oh : y.shape(3)});
    for (int n = 0; n < 2; ++n)
      for (int o = 0; o < c.cout; ++o)
        for (int oy = 0; oy < y.shape(2); ++oy)
          for (int ox = 0; ox < y.shape(3); ++ox)
            CHECK(y.data()[((std::size_t(n) * c.cout + o) * y.shape(2) + oy) * y.shape(3) + ox] ==
                  doctest::Approx(direct_conv(x, *layer->params()[0], c.bias ? layer->params()[1].get() : nullptr, s.convolution, n, o, oy, ox)));
    expect_gradients(s, {&x});
  }
}

TEST_CASE("Winograd convolution in float at a CIFAR layer's size stays within float rounding of the definition") {
  // 64 -> 128 channels at 16x16 (conv2a of the CIFAR net), float, against the definition in double.
  LayerSpec s = spec("Convolution");
  s.convolution = {128, true, 3, 3, 1, 1, 1, 1, 1, 1, gaussian(0.05f), gaussian(0.1f)};
  B xd({2, 64, 16, 16});
  randomize(xd, 11);
  Blob<float> x({2, 64, 16, 16}), y;
  for (std::size_t i = 0; i < x.count(); ++i) x.data()[i] = float(xd.data()[i]);
  auto layer = make_layer<float>(s);
  std::mt19937_64 rng(12);
  layer->setup({&x}, rng);
  layer->reshape({&x}, {&y});
  layer->forward({&x}, {&y}, RunContext{});
  B w(layer->params()[0]->shape()), b(layer->params()[1]->shape());
  for (std::size_t i = 0; i < w.count(); ++i) w.data()[i] = layer->params()[0]->data()[i];
  for (std::size_t i = 0; i < b.count(); ++i) b.data()[i] = layer->params()[1]->data()[i];
  double worst = 0, scale = 0;
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 128; ++o)
      for (int oy = 0; oy < 16; ++oy)
        for (int ox = 0; ox < 16; ++ox) {
          const double want = direct_conv(xd, w, &b, s.convolution, n, o, oy, ox);
          worst = std::max(worst, std::abs(y.data()[((std::size_t(n) * 128 + o) * 16 + oy) * 16 + ox] - want));
          scale = std::max(scale, std::abs(want));
        }
  CAPTURE(worst);
  CAPTURE(scale);
  CHECK(worst < 4e-6 * scale);  // measured 4e-7 of the largest output: float rounding, nothing more
}

TEST_CASE("convolution splits the batch over threads with the same result") {
  LayerSpec s = spec("Convolution");
  s.convolution = {5, true, 3, 3, 1, 1, 1, 1, 1, 1, gaussian(1), gaussian(1)};
  B x({7, 16, 6, 6}), y1, y2;  // 16 channels: the Winograd path, whose kernel gradient sums over chunks
  randomize(x, 4);
  auto one = make_layer<double>(s), two = make_layer<double>(s);
  std::mt19937_64 r1(5), r2(5);
  one->setup({&x}, r1);
  two->setup({&x}, r2);
  one->reshape({&x}, {&y1});
  two->reshape({&x}, {&y2});
  ThreadPool pool(3);
  one->forward({&x}, {&y1}, RunContext{});
  two->forward({&x}, {&y2}, RunContext{Phase::Train, &pool, nullptr});
  for (std::size_t i = 0; i < y1.count(); ++i) CHECK(y1.data()[i] == doctest::Approx(y2.data()[i]).epsilon(1e-12));
  randomize(y1, 6);
  y2.diff_vector() = y1.data_vector();
  y1.diff_vector() = y1.data_vector();
  B x2({7, 16, 6, 6});
  x2.data_vector() = x.data_vector();
  one->backward({&y1}, {true}, {&x}, RunContext{});
  two->backward({&y2}, {true}, {&x2}, RunContext{Phase::Train, &pool, nullptr});
  for (std::size_t i = 0; i < x.count(); ++i) CHECK(x.diff()[i] == doctest::Approx(x2.diff()[i]).epsilon(1e-12));
  for (std::size_t i = 0; i < one->params()[0]->count(); ++i)
    CHECK(one->params()[0]->diff()[i] == doctest::Approx(two->params()[0]->diff()[i]).epsilon(1e-12));
}

TEST_CASE("pooling: Caffe's ceil-then-clip output size, max and average, gradients") {
  struct Case { int h, k, s, p, expected; };
  // 6, k3 s2: ceil(3/2) + 1 = 3 (a floor rule gives 2). 5, k3 s2 p1: 3. 7, k2 s2 p1: ceil(7/2)+1 = 5,
  // but the 5th window would start at 8 - 1 = 7 >= 7 + 1? no: (5 - 1) * 2 = 8 >= 8 -> clipped to 4.
  const Case cases[] = {{6, 3, 2, 0, 3}, {5, 3, 2, 1, 3}, {7, 2, 2, 1, 4}, {13, 3, 2, 0, 6}, {55, 3, 2, 0, 27}};
  for (const Case& c : cases)
    for (auto method : {PoolingSpec::Method::Max, PoolingSpec::Method::Average}) {
      LayerSpec s = spec("Pooling");
      s.pooling = {method, c.k, c.k, c.s, c.s, c.p, c.p, false};
      B x({2, 3, c.h, c.h}), y;
      randomize_distinct(x, 7);
      auto layer = make_layer<double>(s);
      std::mt19937_64 rng;
      layer->setup({&x}, rng);
      layer->reshape({&x}, {&y});
      CHECK(y.shape(2) == c.expected);
      CHECK(y.shape(3) == c.expected);
      if (c.h <= 13) expect_gradients(s, {&x});
    }
  // Average pooling divides by the window counted up to the padded border, not by the valid part.
  LayerSpec s = spec("Pooling");
  s.pooling = {PoolingSpec::Method::Average, 3, 3, 2, 2, 1, 1, false};
  B x({1, 1, 3, 3}), y;
  for (int i = 0; i < 9; ++i) x.data()[i] = 1;
  auto layer = make_layer<double>(s);
  std::mt19937_64 rng;
  layer->setup({&x}, rng);
  layer->reshape({&x}, {&y});
  layer->forward({&x}, {&y}, RunContext{});
  CHECK(y.data()[0] == doctest::Approx(4.0 / 9.0));  // top-left window: 4 of 9 cells inside
  // Global pooling.
  LayerSpec g = spec("Pooling");
  g.pooling.global_pooling = true;
  g.pooling.method = PoolingSpec::Method::Average;
  B gx({2, 4, 5, 5});
  randomize(gx, 8);
  expect_gradients(g, {&gx});
}

TEST_CASE("activations, dropout and LRN") {
  B x({3, 4, 3, 2});
  randomize_distinct(x, 9);
  expect_gradients(spec("ReLU"), {&x});
  LayerSpec leaky = spec("ReLU");
  leaky.relu.negative_slope = 0.1f;
  expect_gradients(leaky, {&x});
  randomize(x, 10);
  expect_gradients(spec("Sigmoid"), {&x});
  expect_gradients(spec("Dropout"), {&x}, 1, {true}, Phase::Train);
  expect_gradients(spec("Dropout"), {&x}, 1, {true}, Phase::Test);

  LayerSpec lrn = spec("LRN");
  lrn.lrn = {3, 0.5f, 0.75f, 2.0f};
  B c({2, 7, 3, 3});
  randomize(c, 11);
  expect_gradients(lrn, {&c});
  // Forward against the formula: y = x (k + alpha/n sum x^2)^-beta over the channel window.
  auto layer = make_layer<double>(lrn);
  B y;
  std::mt19937_64 rng;
  layer->setup({&c}, rng);
  layer->reshape({&c}, {&y});
  layer->forward({&c}, {&y}, RunContext{});
  for (int ch = 0; ch < 7; ++ch) {
    double sum = 0;
    for (int j = std::max(0, ch - 1); j <= std::min(6, ch + 1); ++j) sum += std::pow(c.data()[std::size_t(j) * 9 + 4], 2);
    CHECK(y.data()[std::size_t(ch) * 9 + 4] == doctest::Approx(c.data()[std::size_t(ch) * 9 + 4] * std::pow(2.0 + 0.5 / 3 * sum, -0.75)));
  }
}

TEST_CASE("dropout: identity at test time, inverted scaling at training time") {
  LayerSpec s = spec("Dropout");
  s.dropout.ratio = 0.25f;
  auto layer = make_layer<double>(s);
  B x({1000, 10}), y;
  for (std::size_t i = 0; i < x.count(); ++i) x.data()[i] = 1;
  std::mt19937_64 rng(12);
  layer->setup({&x}, rng);
  layer->reshape({&x}, {&y});
  layer->forward({&x}, {&y}, RunContext{Phase::Test, nullptr, &rng});
  CHECK(y.data_vector().sum() == doctest::Approx(10000));
  layer->forward({&x}, {&y}, RunContext{Phase::Train, nullptr, &rng});
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < y.count(); ++i) {
    zeros += y.data()[i] == 0;
    CHECK((y.data()[i] == 0 || y.data()[i] == doctest::Approx(1 / 0.75)));
  }
  CHECK(double(zeros) / 10000 == doctest::Approx(0.25).epsilon(0.1));
  CHECK(y.data_vector().mean() == doctest::Approx(1.0).epsilon(0.05));
}

TEST_CASE("inner product and the latent layer, with and without the SSDH losses") {
  LayerSpec ip = spec("InnerProduct");
  ip.inner_product = {5, true, 1, gaussian(1), gaussian(1)};
  B x({4, 3, 2, 2});
  randomize(x, 13);
  expect_gradients(ip, {&x});
  ip.inner_product.bias_term = false;
  expect_gradients(ip, {&x});

  LayerSpec latent = spec("Latent");
  latent.latent.num_output = 6;
  latent.latent.weight_filler = gaussian(0.5f);
  latent.latent.bias_filler = gaussian(0.5f);
  expect_gradients(latent, {&x});
  latent.latent.binarization_weight = 0.7f;
  latent.latent.balance_weight = 1.3f;
  expect_gradients(latent, {&x}, 2);
  // The latent layer is the inner product followed by the sigmoid.
  auto l = make_layer<double>(latent);
  LayerSpec same = spec("InnerProduct");
  same.inner_product = {6, true, 1, {}, {}};
  auto i = make_layer<double>(same);
  B a, z, loss;
  std::mt19937_64 rng;
  l->setup({&x}, rng);
  i->setup({&x}, rng);
  i->params()[0]->data_vector() = l->params()[0]->data_vector();
  i->params()[1]->data_vector() = l->params()[1]->data_vector();
  l->reshape({&x}, {&a, &loss});
  i->reshape({&x}, {&z});
  l->forward({&x}, {&a, &loss}, RunContext{});
  i->forward({&x}, {&z}, RunContext{});
  double bin = 0, bal = 0;
  for (int n = 0; n < 4; ++n) {
    double row = 0;
    for (int j = 0; j < 6; ++j) {
      const double v = 1 / (1 + std::exp(-z.data()[n * 6 + j]));
      CHECK(a.data()[n * 6 + j] == doctest::Approx(v));
      bin -= (v - 0.5) * (v - 0.5) / 24;
      row += (v - 0.5) / 6;
    }
    bal += row * row / 4;
  }
  CHECK(loss.data()[0] == doctest::Approx(0.7 * bin + 1.3 * bal));
}

TEST_CASE("softmax, softmax loss and accuracy") {
  B scores({5, 4}), labels({5});
  randomize(scores, 14);
  for (int i = 0; i < 5; ++i) labels.data()[i] = i % 4;
  LayerSpec sm = spec("Softmax");
  expect_gradients(sm, {&scores});
  LayerSpec loss = spec("SoftmaxWithLoss");
  loss.bottoms = {"x", "label"};
  expect_gradients(loss, {&scores, &labels}, 1, {true, false});
  auto layer = make_layer<double>(loss);
  B out;
  std::mt19937_64 rng;
  layer->setup({&scores, &labels}, rng);
  layer->reshape({&scores, &labels}, {&out});
  layer->forward({&scores, &labels}, {&out}, RunContext{});
  // By hand: the mean over the 5 samples of -sum_c target_c log softmax_c, for the target `on` on
  // the label and `off` on the other classes.
  auto cross_entropy = [&](double on, double off) {
    double sum = 0;
    for (int i = 0; i < 5; ++i) {
      double z = 0;
      for (int c = 0; c < 4; ++c) z += std::exp(scores.data()[i * 4 + c]);
      for (int c = 0; c < 4; ++c) sum -= (c == i % 4 ? on : off) * std::log(std::exp(scores.data()[i * 4 + c]) / z) / 5;
    }
    return sum;
  };
  CHECK(out.data()[0] == doctest::Approx(cross_entropy(1, 0)));
  labels.data()[2] = 4;
  CHECK_THROWS_WITH_AS(layer->forward({&scores, &labels}, {&out}, RunContext{}),
                       doctest::Contains("label 4.000000 of sample 2 is not a class index in [0, 4)"), Error);
  labels.data()[2] = 2;

  SUBCASE("label smoothing: the cross-entropy against 0.7 on the label and 0.1 on each of 4 classes") {
    loss.softmax.label_smoothing = 0.4f;
    expect_gradients(loss, {&scores, &labels}, 1, {true, false});
    auto smoothed = make_layer<double>(loss);
    smoothed->setup({&scores, &labels}, rng);
    smoothed->reshape({&scores, &labels}, {&out});
    smoothed->forward({&scores, &labels}, {&out}, RunContext{});
    CHECK(out.data()[0] == doctest::Approx(cross_entropy(0.7, 0.1)));
    loss.softmax.label_smoothing = 1.0f;
    CHECK_THROWS_WITH_AS(make_layer<double>(loss)->setup({&scores, &labels}, rng),
                         doctest::Contains("label_smoothing must lie in [0, 1)"), Error);
  }
}

TEST_CASE("batch normalisation (batch and global statistics), scale, eltwise and split") {
  B x({4, 3, 2, 2});
  randomize(x, 15, 2.0);
  LayerSpec bn = spec("BatchNorm");
  expect_gradients(bn, {&x}, 1, {true}, Phase::Train, 1e-5);
  bn.batch_norm.use_global_stats = true;
  expect_gradients(bn, {&x}, 1, {true}, Phase::Test);
  LayerSpec scale = spec("Scale");
  scale.scale.bias_term = true;
  scale.scale.filler = gaussian(1);
  scale.scale.bias_filler = gaussian(1);
  expect_gradients(scale, {&x});

  B a({2, 3, 2}), b({2, 3, 2}), c({2, 3, 2});
  randomize_distinct(a, 16);
  randomize_distinct(b, 17);
  b.data_vector().array() += 0.005;  // never equal to a value of a: max has no ties
  randomize(c, 18);
  LayerSpec sum = spec("Eltwise");
  sum.bottoms = {"a", "b", "c"};
  sum.eltwise.coeff = {1.0f, -2.0f, 0.5f};
  expect_gradients(sum, {&a, &b, &c}, 1, {true, true, true});
  LayerSpec prod = sum;
  prod.eltwise = {EltwiseSpec::Operation::Product, {}};
  expect_gradients(prod, {&a, &b, &c}, 1, {true, true, true});
  LayerSpec max = sum;
  max.eltwise = {EltwiseSpec::Operation::Max, {}};
  max.bottoms = {"a", "b"};
  expect_gradients(max, {&a, &b}, 1, {true, true});
  LayerSpec split = spec("Split", 3);
  expect_gradients(split, {&a}, 3);
}

// The CIFAR net's pattern: batch norm, scale and ReLU, each in place on the convolution's blob and
// split over threads. They must compute what the three give out of place on one thread: each keeps
// what its gradient needs before the next layer overwrites the blob.
TEST_CASE("batch norm, scale and ReLU in place over threads equal them out of place") {
  LayerSpec bn = spec("BatchNorm"), scale = spec("Scale"), relu = spec("ReLU");
  scale.scale.bias_term = true;
  scale.scale.filler = gaussian(1);
  scale.scale.bias_filler = gaussian(1);
  relu.relu.negative_slope = 0.1f;
  const std::vector<LayerSpec> chain = {bn, scale, relu};
  B x({5, 3, 4, 3});
  randomize(x, 31, 3.0);
  B dy({5, 3, 4, 3});
  randomize(dy, 32);
  // Out of place: x -> a -> b -> y, no pool.
  std::vector<std::unique_ptr<Layer<double>>> apart, shared;
  B a, b, y;
  std::vector<B*> blobs = {&x, &a, &b, &y};
  std::mt19937_64 r1(7), r2(7);
  for (std::size_t l = 0; l < chain.size(); ++l) {
    apart.push_back(make_layer<double>(chain[l]));
    apart[l]->setup({blobs[l]}, r1);
    apart[l]->reshape({blobs[l]}, {blobs[l + 1]});
    apart[l]->forward({blobs[l]}, {blobs[l + 1]}, RunContext{Phase::Train});
  }
  y.diff_vector() = dy.data_vector();
  for (std::size_t l = chain.size(); l-- > 0;) apart[l]->backward({blobs[l + 1]}, {true}, {blobs[l]}, RunContext{Phase::Train});
  // In place on one blob, over three threads.
  ThreadPool pool(3);
  const RunContext threaded{Phase::Train, &pool, nullptr};
  B z({5, 3, 4, 3});
  z.data_vector() = x.data_vector();
  for (std::size_t l = 0; l < chain.size(); ++l) {
    shared.push_back(make_layer<double>(chain[l]));
    shared[l]->setup({&z}, r2);
    shared[l]->reshape({&z}, {&z});
    shared[l]->forward({&z}, {&z}, threaded);
  }
  for (std::size_t i = 0; i < z.count(); ++i) CHECK(z.data()[i] == doctest::Approx(y.data()[i]).epsilon(1e-12));
  z.diff_vector() = dy.data_vector();
  for (std::size_t l = chain.size(); l-- > 0;) shared[l]->backward({&z}, {true}, {&z}, threaded);
  for (std::size_t i = 0; i < z.count(); ++i) CHECK(z.diff()[i] == doctest::Approx(x.diff()[i]).epsilon(1e-12));
  for (std::size_t p = 0; p < 2; ++p)
    for (int ch = 0; ch < 3; ++ch)
      CHECK(shared[1]->params()[p]->diff()[ch] == doctest::Approx(apart[1]->params()[p]->diff()[ch]).epsilon(1e-12));
}

TEST_CASE("batch normalisation keeps Caffe's running statistics") {
  LayerSpec bn = spec("BatchNorm");
  bn.batch_norm.moving_average_fraction = 0.5f;
  auto layer = make_layer<double>(bn);
  B x({2, 1, 1, 2}), y;
  std::mt19937_64 rng;
  layer->setup({&x}, rng);
  layer->reshape({&x}, {&y});
  const double first[] = {1, 2, 3, 6}, second[] = {0, 0, 4, 4};
  std::copy(first, first + 4, x.data());
  layer->forward({&x}, {&y}, RunContext{Phase::Train});
  std::copy(second, second + 4, x.data());
  layer->forward({&x}, {&y}, RunContext{Phase::Train});
  // Means 3 and 2; unbiased variances 14/3 and 16/3. Sums decay by 0.5: mean sum = 3 * 0.5 + 2,
  // normaliser = 1 * 0.5 + 1.
  CHECK(layer->params()[0]->data()[0] == doctest::Approx(3.5));
  CHECK(layer->params()[1]->data()[0] == doctest::Approx(14.0 / 3 * 0.5 + 16.0 / 3));
  CHECK(layer->params()[2]->data()[0] == doctest::Approx(1.5));
  // Test phase uses the estimates sum / normaliser.
  layer->forward({&x}, {&y}, RunContext{Phase::Test});
  CHECK(y.data()[0] == doctest::Approx((0 - 3.5 / 1.5) / std::sqrt((14.0 / 6 + 16.0 / 3) / 1.5 + 1e-5)));
}

TEST_CASE("layers name themselves in errors") {
  LayerSpec s = spec("Convolution");
  s.name = "conv9";
  s.convolution = {6, true, 3, 3, 1, 1, 0, 0, 1, 4, {}, {}};
  B x({1, 3, 8, 8});
  auto layer = make_layer<double>(s);
  std::mt19937_64 rng;
  CHECK_THROWS_WITH_AS(layer->setup({&x}, rng), doctest::Contains("layer 'conv9' (Convolution): group 4 must divide"), Error);
  LayerSpec bad = spec("Crop");
  CHECK_THROWS_WITH_AS(make_layer<double>(bad), doctest::Contains("unsupported layer type 'Crop'"), Error);
}

TEST_CASE("max pooling: the inference path (no positions kept) equals the training path") {
  for (int pad : {0, 1})
    for (int size : {7, 13, 27}) {
      LayerSpec s = spec("Pooling");
      s.pooling = {PoolingSpec::Method::Max, 3, 3, 2, 2, pad, pad, false};
      B x({2, 3, size, size + 2}), train, test;
      randomize(x, std::uint64_t(size + pad));
      auto layer = make_layer<double>(s);
      std::mt19937_64 rng;
      layer->setup({&x}, rng);
      layer->reshape({&x}, {&train});
      layer->forward({&x}, {&train}, RunContext{Phase::Train});
      layer->reshape({&x}, {&test});
      layer->forward({&x}, {&test}, RunContext{Phase::Test});
      REQUIRE(train.count() == test.count());
      for (std::size_t i = 0; i < train.count(); ++i) CHECK(train.data()[i] == test.data()[i]);
    }
}

TEST_CASE("max pooling 2x2, stride 2 in training (its own loop): brute force, ties, NaN windows, gradients") {
  LayerSpec s = spec("Pooling");
  s.pooling = {PoolingSpec::Method::Max, 2, 2, 2, 2, 0, 0, false};
  for (int h : {4, 6, 8}) {
    B x({2, 3, h, h + 2}), y;
    randomize(x, std::uint64_t(h));
    // Ties (the first in row-major order wins) and a window of NaN only (no maximum, no gradient).
    x.data()[0] = x.data()[1] = x.data()[std::size_t(h + 2)] = 5;
    for (int at : {2, 3, h + 4, h + 5}) x.data()[at] = std::numeric_limits<double>::quiet_NaN();
    auto layer = set_up(s, {&x}, {&y});
    layer->forward({&x}, {&y}, RunContext{Phase::Train});
    for (std::size_t i = 0; i < y.count(); ++i) y.diff()[i] = double(i + 1);
    layer->backward({&y}, {true}, {&x}, RunContext{Phase::Train});
    const int w = h + 2, oh = h / 2, ow = w / 2;
    REQUIRE(y.shape() == std::vector<int>{2, 3, oh, ow});
    std::vector<double> expected_grad(x.count(), 0.0);
    for (int plane = 0; plane < 6; ++plane)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          double best = -std::numeric_limits<double>::infinity();
          int where = -1;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
              const int at = plane * h * w + (2 * oy + dy) * w + 2 * ox + dx;
              if (x.data()[at] > best) best = x.data()[at], where = at;
            }
          const std::size_t o = std::size_t((plane * oh + oy) * ow + ox);
          CHECK(y.data()[o] == best);
          if (where >= 0) expected_grad[std::size_t(where)] += y.diff()[o];
        }
    CHECK(y.data()[1] == -std::numeric_limits<double>::infinity());  // the NaN window
    for (std::size_t i = 0; i < x.count(); ++i) CHECK(x.diff()[i] == expected_grad[i]);
    B g({2, 2, h, h});
    randomize_distinct(g, 31);
    expect_gradients(s, {&g});
  }
}

TEST_CASE("pooling: round_mode FLOOR rounds the output size down, the clip for padding still applies") {
  struct Case { int h, k, s, p, ceil, floor; };
  // (H + 2 pad - kernel) / stride + 1: 6, k3 s2: 1.5 -> ceil 3, floor 2. 7, k3 s2 p1: 3 -> 4 either
  // way. 8, k3 s2 p1: 3.5 -> ceil 5 (the last window starts at row 7, inside the image: kept),
  // floor 4. 13, k2 s2: 5.5 -> ceil 7, floor 6.
  const Case cases[] = {{6, 3, 2, 0, 3, 2}, {7, 3, 2, 1, 4, 4}, {8, 3, 2, 1, 5, 4}, {55, 3, 2, 0, 27, 27}, {13, 2, 2, 0, 7, 6}};
  for (const Case& c : cases)
    for (auto mode : {PoolingSpec::RoundMode::Ceil, PoolingSpec::RoundMode::Floor}) {
      LayerSpec s = spec("Pooling");
      s.pooling = {PoolingSpec::Method::Max, c.k, c.k, c.s, c.s, c.p, c.p, false, mode};
      B x({1, 2, c.h, c.h}), y;
      randomize_distinct(x, 21);
      auto layer = set_up(s, {&x}, {&y});
      const int expected = mode == PoolingSpec::RoundMode::Ceil ? c.ceil : c.floor;
      CHECK(y.shape() == std::vector<int>{1, 2, expected, expected});
      // Every output is the maximum of its window, found here by brute force.
      layer->forward({&x}, {&y}, RunContext{});
      for (int ch = 0; ch < 2; ++ch)
        for (int oy = 0; oy < expected; ++oy)
          for (int ox = 0; ox < expected; ++ox) {
            double best = -1e300;
            for (int yy = std::max(0, oy * c.s - c.p); yy < std::min(c.h, oy * c.s - c.p + c.k); ++yy)
              for (int xx = std::max(0, ox * c.s - c.p); xx < std::min(c.h, ox * c.s - c.p + c.k); ++xx)
                best = std::max(best, x.data()[(std::size_t(ch) * c.h + yy) * c.h + xx]);
            CHECK(y.data()[(std::size_t(ch) * expected + oy) * expected + ox] == best);
          }
    }
  LayerSpec ave = spec("Pooling");
  ave.pooling = {PoolingSpec::Method::Average, 3, 3, 2, 2, 1, 1, false, PoolingSpec::RoundMode::Floor};
  B x({2, 3, 8, 8});
  randomize(x, 22);
  expect_gradients(ave, {&x});
}

TEST_CASE("concat: inputs joined along an axis, by hand and by gradients; shapes that do not fit are refused") {
  // Channels (axis 1) of 2 x 1 x 2 and 2 x 2 x 2: every output row is the first input's row, then
  // the second's.
  B a({2, 1, 2}), b({2, 2, 2}), y;
  for (int i = 0; i < 4; ++i) a.data()[i] = i + 1;         // 1 2 | 3 4
  for (int i = 0; i < 8; ++i) b.data()[i] = 10 * (i + 1);  // 10 20 30 40 | 50 60 70 80
  LayerSpec s = spec("Concat");
  s.bottoms = {"a", "b"};
  auto layer = set_up(s, {&a, &b}, {&y});
  REQUIRE(y.shape() == std::vector<int>{2, 3, 2});
  layer->forward({&a, &b}, {&y}, RunContext{});
  const std::vector<double> expected{1, 2, 10, 20, 30, 40, 3, 4, 50, 60, 70, 80};
  CHECK(std::vector<double>(y.data(), y.data() + y.count()) == expected);

  B p({2, 3, 4, 5}), q({2, 1, 4, 5}), r({2, 2, 4, 5});
  randomize(p, 23);
  randomize(q, 24);
  randomize(r, 25);
  LayerSpec three = spec("Concat");
  three.bottoms = {"p", "q", "r"};
  expect_gradients(three, {&p, &q, &r}, 1, {true, false, true});  // one input left without a gradient
  // The last axis, given from the end, and the first axis (the batch).
  B u({2, 3, 4, 2}), v({2, 3, 4, 3}), w({1, 3, 4, 5});
  randomize(u, 26);
  randomize(v, 27);
  randomize(w, 28);
  three.concat.axis = -1;
  three.bottoms = {"u", "v"};
  expect_gradients(three, {&u, &v}, 1, {true, true});
  three.concat.axis = 0;
  three.bottoms = {"p", "w"};
  B pw({2, 3, 4, 5});
  randomize(pw, 29);
  expect_gradients(three, {&pw, &w}, 1, {true, true});
  // A single input is copied through.
  LayerSpec one = spec("Concat");
  expect_gradients(one, {&p});

  LayerSpec bad = spec("Concat");
  bad.name = "inception_3a/output";
  bad.bottoms = {"p", "u"};
  auto refuse = [&](const LayerSpec& l, std::vector<B*> bottoms) {
    B out;
    set_up(l, bottoms, {&out});
  };
  CHECK_THROWS_WITH_AS(refuse(bad, {&p, &u}),
                       "layer 'inception_3a/output' (Concat): input 1 (2 x 3 x 4 x 2) does not match input 0 "
                       "(2 x 3 x 4 x 5) on every axis but 1",
                       Error);
  B flat({2, 60});
  CHECK_THROWS_WITH_AS(refuse(bad, {&p, &flat}), doctest::Contains("input 1 (2 x 60) does not match input 0"), Error);
  bad.concat.axis = 4;
  CHECK_THROWS_WITH_AS(refuse(bad, {&p, &p}),
                       "layer 'inception_3a/output' (Concat): axis 4 is out of range for the input (2 x 3 x 4 x 5) (4 axes)",
                       Error);
  bad.concat.axis = -5;
  CHECK_THROWS_WITH_AS(refuse(bad, {&p, &p}), doctest::Contains("axis -5 is out of range"), Error);
}

TEST_CASE("flatten and reshape: Caffe's shape rules, values kept in order, gradients") {
  const auto shape_of = [](LayerSpec s, std::vector<int> in) {
    B x(std::move(in)), y;
    set_up(s, {&x}, {&y});
    return y.shape();
  };
  using Shape = std::vector<int>;
  LayerSpec flatten = spec("Flatten");
  CHECK(shape_of(flatten, {2, 3, 4, 5}) == Shape{2, 60});
  flatten.flatten = {2, 3};
  CHECK(shape_of(flatten, {2, 3, 4, 5}) == Shape{2, 3, 20});
  flatten.flatten = {-3, -2};
  CHECK(shape_of(flatten, {2, 3, 4, 5}) == Shape{2, 12, 5});
  flatten.flatten = {0, 0};
  CHECK(shape_of(flatten, {2, 3}) == Shape{2, 3});
  flatten.flatten = {2, 1};  // end_axis = axis - 1 inserts an axis of 1, as in Caffe
  CHECK(shape_of(flatten, {2, 3, 4}) == Shape{2, 3, 1, 4});
  flatten.flatten = {3, 1};
  CHECK_THROWS_WITH_AS(shape_of(flatten, {2, 3, 4, 5}),
                       "layer 'l' (Flatten): end_axis 1 comes before axis 3 in the input (2 x 3 x 4 x 5)", Error);
  flatten.flatten = {1, 4};
  CHECK_THROWS_WITH_AS(shape_of(flatten, {2, 3, 4, 5}), doctest::Contains("end_axis 4 is out of range"), Error);

  LayerSpec reshape = spec("Reshape");
  // caffe.proto's examples: a 2 x 8 input to 2 x 2 x 4, five ways; to 1 x 2 x 8 and 2 x 1 x 8.
  const auto with = [&](Shape shape, int axis = 0, int num_axes = -1) {
    LayerSpec s = reshape;
    s.reshape = {std::move(shape), axis, num_axes};
    return shape_of(s, {2, 8});
  };
  CHECK(with({2, 2, 4}) == Shape{2, 2, 4});
  CHECK(with({0, 2, 4}) == Shape{2, 2, 4});
  CHECK(with({0, 2, -1}) == Shape{2, 2, 4});
  CHECK(with({0, -1, 4}) == Shape{2, 2, 4});
  CHECK(with({2, 4}, 1) == Shape{2, 2, 4});
  CHECK(with({2, 4}, -2) == Shape{2, 2, 4});
  CHECK(with({1, 2}, 0, 1) == Shape{1, 2, 8});
  CHECK(with({1}, 0, 0) == Shape{1, 2, 8});
  CHECK(with({1}, 1, 0) == Shape{2, 1, 8});
  CHECK(with({1}, -1, 0) == Shape{2, 8, 1});
  CHECK(with({-1}) == Shape{16});
  CHECK(with({}, 0, 0) == Shape{2, 8});
  CHECK_THROWS_WITH_AS(with({3, -1}),
                       "layer 'l' (Reshape): cannot reshape the input (2 x 8) (16 values) to (3 x 1) with the -1 inferred", Error);
  CHECK_THROWS_WITH_AS(with({4, 5}), doctest::Contains("cannot reshape the input (2 x 8) (16 values) to (4 x 5)"), Error);
  CHECK_THROWS_WITH_AS(with({-1, -1}), doctest::Contains("more than one -1"), Error);
  CHECK_THROWS_WITH_AS(with({2, -2, -4}), doctest::Contains("shape dim 1 is -2"), Error);
  CHECK_THROWS_WITH_AS(with({0, 0, 0}), doctest::Contains("shape dim 2 is 0 (copy the input's) but the input (2 x 8) has no axis 2"), Error);
  CHECK_THROWS_WITH_AS(with({16}, 3), doctest::Contains("axis 3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(with({16}, -4), doctest::Contains("axis -4 is out of range"), Error);
  CHECK_THROWS_WITH_AS(with({16}, 1, 2), doctest::Contains("reach past the last axis"), Error);
  CHECK_THROWS_WITH_AS(with({16}, 0, -2), doctest::Contains("num_axes must be -1"), Error);

  // Values keep their order; the gradient goes back unchanged.
  B x({2, 3, 2, 2});
  randomize(x, 30);
  for (LayerSpec s : {spec("Flatten"), spec("Reshape")}) {
    s.reshape = {{0, -1, 3}, 0, -1};
    B y;
    auto layer = set_up(s, {&x}, {&y});
    layer->forward({&x}, {&y}, RunContext{});
    CHECK(y.shape() == (s.type == "Flatten" ? Shape{2, 12} : Shape{2, 4, 3}));
    CHECK(std::vector<double>(y.data(), y.data() + y.count()) == std::vector<double>(x.data(), x.data() + x.count()));
    expect_gradients(s, {&x});
  }
}

TEST_CASE("patch whitening: the filters' outputs on the images' patches are decorrelated with unit variance") {
  // Correlated 3-channel images: smooth noise (each pixel the mean of a random field's 2x2
  // neighbourhood) plus a channel-shared component.
  const int c = 3, h = 9, w = 10, k = 3, dim = c * k * k;
  const std::size_t n = 60;
  std::mt19937_64 rng(17);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> images(n * c * h * w);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> field((h + 1) * (w + 1));
    for (float& f : field) f = g(rng);
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          images[((i * c + std::size_t(ch)) * h + std::size_t(y)) * w + std::size_t(x)] =
              field[std::size_t(y * (w + 1) + x)] + field[std::size_t((y + 1) * (w + 1) + x + 1)] + 0.3f * g(rng) + 0.1f * float(ch);
  }
  for (int filters : {2 * dim, 8}) {
    const std::vector<float> wts = patch_whitening_filters(images.data(), n, c, h, w, k, filters, 1e-6);
    REQUIRE(wts.size() == std::size_t(filters * dim));
    // The outputs' second moments over every patch, by brute force in double.
    Eigen::MatrixXd moment = Eigen::MatrixXd::Zero(filters, filters);
    std::size_t patches = 0;
    std::vector<double> out(static_cast<std::size_t>(filters), 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (int y = 0; y + k <= h; ++y)
        for (int x = 0; x + k <= w; ++x, ++patches) {
          for (int f = 0; f < filters; ++f) {
            double sum = 0;
            for (int ch = 0, d = 0; ch < c; ++ch)
              for (int dy = 0; dy < k; ++dy)
                for (int dx = 0; dx < k; ++dx, ++d)
                  sum += double(wts[std::size_t(f * dim + d)]) *
                         images[((i * c + std::size_t(ch)) * h + std::size_t(y + dy)) * w + std::size_t(x + dx)];
            out[std::size_t(f)] = sum;
          }
          for (int a = 0; a < filters; ++a)
            for (int b = 0; b < filters; ++b) moment(a, b) += out[std::size_t(a)] * out[std::size_t(b)];
        }
    moment /= double(patches);
    const int kept = filters / 2;
    // The first half: the identity; the second half: their negatives.
    CHECK((moment.topLeftCorner(kept, kept) - Eigen::MatrixXd::Identity(kept, kept)).cwiseAbs().maxCoeff() < 1e-3);
    CHECK((moment.topRightCorner(kept, kept) + Eigen::MatrixXd::Identity(kept, kept)).cwiseAbs().maxCoeff() < 1e-3);
    for (int d = 0; d < dim; ++d) CHECK(wts[std::size_t(kept * dim + d)] == -wts[std::size_t(d)]);
  }
  // The kept components are those of largest variance: a filter's squared norm is 1 / (its
  // component's variance + eps), so the norms grow along the kept filters, and the 8-filter
  // layer's are the full layer's first four.
  const std::vector<float> all = patch_whitening_filters(images.data(), n, c, h, w, k, 2 * dim, 1e-6);
  const std::vector<float> top = patch_whitening_filters(images.data(), n, c, h, w, k, 8, 1e-6);
  auto norm = [&](const std::vector<float>& v, int f) {
    return Eigen::Map<const Eigen::VectorXf>(v.data() + std::size_t(f * dim), dim).norm();
  };
  for (int f = 0; f + 1 < dim; ++f) CHECK(norm(all, f) <= norm(all, f + 1) * (1 + 1e-5f));
  for (int f = 0; f < 4; ++f) CHECK(norm(top, f) == doctest::Approx(norm(all, f)).epsilon(1e-4));
  CHECK_THROWS_WITH(patch_whitening_filters(images.data(), n, c, h, w, k, 7), doctest::Contains("an even number"));
  CHECK_THROWS_WITH(patch_whitening_filters(images.data(), n, c, h, w, k, 2 * dim + 2), doctest::Contains("at most twice"));
  CHECK_THROWS_WITH(patch_whitening_filters(images.data(), n, c, 2, 2, k, 8), doctest::Contains("at least as large"));
  images[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(patch_whitening_filters(images.data(), n, c, h, w, k, 8), doctest::Contains("not finite"));
}
