// OpenCV's Caffe importer (cv::dnn::readNetFromCaffe, its own protobuf reader and its own
// layers) as an independent oracle for ours: nets written by write_caffe_prototxt and
// write_caffemodel are read by both, run on the same input, and compared layer by layer.
#include <doctest/doctest.h>

#if DEEPHASH_HAVE_OPENCV_DNN

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <deephash/codes/binarize.hpp>
#include <deephash/core/atomic_file.hpp>
#include <deephash/io/caffe/prototxt.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/nn/net.hpp>

#include "support.hpp"

using namespace deephash;
using test::TempDir;
using nn::LayerSpec;
using nn::NetSpec;
namespace fs = std::filesystem;

namespace {

std::string format_name(CaffeFormat format) { return format == CaffeFormat::V1 ? "V1" : "current"; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// --- layers with Caffe's names; fillers stay constant (the weights are drawn by the test) ---

LayerSpec layer(const std::string& name, const std::string& type, std::vector<std::string> bottoms,
                std::vector<std::string> tops) {
  LayerSpec l;
  l.name = name;
  l.type = type;
  l.bottoms = std::move(bottoms);
  l.tops = std::move(tops);
  return l;
}
LayerSpec in_place(const std::string& name, const std::string& type, const std::string& blob) {
  return layer(name, type, {blob}, {blob});
}
LayerSpec convolution_hw(const std::string& name, const std::string& bottom, int num_output, int kernel_h, int kernel_w,
                         int stride_h, int stride_w, int pad_h, int pad_w, int group = 1, bool bias = true) {
  LayerSpec l = layer(name, "Convolution", {bottom}, {name});
  nn::ConvolutionSpec& c = l.convolution;
  c.num_output = num_output;
  c.bias_term = bias;
  c.kernel_h = kernel_h, c.kernel_w = kernel_w;
  c.stride_h = stride_h, c.stride_w = stride_w;
  c.pad_h = pad_h, c.pad_w = pad_w;
  c.group = group;
  return l;
}
LayerSpec convolution(const std::string& name, const std::string& bottom, int num_output, int kernel, int stride = 1,
                      int pad = 0, int group = 1) {
  return convolution_hw(name, bottom, num_output, kernel, kernel, stride, stride, pad, pad, group);
}
LayerSpec pooling(const std::string& name, const std::string& bottom, nn::PoolingSpec::Method method, int kernel,
                  int stride, int pad = 0) {
  LayerSpec l = layer(name, "Pooling", {bottom}, {name});
  l.pooling = {method, kernel, kernel, stride, stride, pad, pad, false};
  return l;
}
LayerSpec global_pooling(const std::string& name, const std::string& bottom, nn::PoolingSpec::Method method) {
  LayerSpec l = layer(name, "Pooling", {bottom}, {name});
  l.pooling.method = method;
  l.pooling.global_pooling = true;
  return l;
}
LayerSpec lrn(const std::string& name, const std::string& bottom, int local_size, float alpha, float beta,
              float k = 1) {
  LayerSpec l = layer(name, "LRN", {bottom}, {name});
  l.lrn = {local_size, alpha, beta, k};
  return l;
}
LayerSpec inner_product(const std::string& name, const std::string& bottom, int num_output) {
  LayerSpec l = layer(name, "InnerProduct", {bottom}, {name});
  l.inner_product.num_output = num_output;
  return l;
}
LayerSpec relu(const std::string& name, const std::string& blob, float negative_slope = 0) {
  LayerSpec l = in_place(name, "ReLU", blob);
  l.relu.negative_slope = negative_slope;
  return l;
}

LayerSpec concat(const std::string& name, std::vector<std::string> bottoms, int axis = 1) {
  LayerSpec l = layer(name, "Concat", std::move(bottoms), {name});
  l.concat.axis = axis;
  return l;
}
LayerSpec batch_norm_global(const std::string& name, const std::string& blob) {
  LayerSpec l = in_place(name, "BatchNorm", blob);
  l.batch_norm.use_global_stats = true;  // as ResNet-50's deploy file has it
  return l;
}
LayerSpec scale_with_bias(const std::string& name, const std::string& blob) {
  LayerSpec l = in_place(name, "Scale", blob);
  l.scale.bias_term = true;
  return l;
}

constexpr auto kMax = nn::PoolingSpec::Method::Max;
constexpr auto kAve = nn::PoolingSpec::Method::Average;

// KevinNet as a deploy net: CaffeNet up to fc7, the 48-unit latent layer as the paper's
// prototxt has it (inner product fc8_kevin + sigmoid into its own top fc8_kevin_encode), a
// 10-way classifier and the softmax.
NetSpec kevinnet_deploy() {
  NetSpec net;
  net.name = "KevinNet_CIFAR10_48_deploy";
  net.inputs = {"data"};
  net.input_shapes = {{1, 3, 227, 227}};
  auto& L = net.layers;
  L.push_back(convolution("conv1", "data", 96, 11, 4));
  L.push_back(relu("relu1", "conv1"));
  L.push_back(pooling("pool1", "conv1", kMax, 3, 2));
  L.push_back(lrn("norm1", "pool1", 5, 1e-4f, 0.75f));
  L.push_back(convolution("conv2", "norm1", 256, 5, 1, 2, 2));
  L.push_back(relu("relu2", "conv2"));
  L.push_back(pooling("pool2", "conv2", kMax, 3, 2));
  L.push_back(lrn("norm2", "pool2", 5, 1e-4f, 0.75f));
  L.push_back(convolution("conv3", "norm2", 384, 3, 1, 1));
  L.push_back(relu("relu3", "conv3"));
  L.push_back(convolution("conv4", "conv3", 384, 3, 1, 1, 2));
  L.push_back(relu("relu4", "conv4"));
  L.push_back(convolution("conv5", "conv4", 256, 3, 1, 1, 2));
  L.push_back(relu("relu5", "conv5"));
  L.push_back(pooling("pool5", "conv5", kMax, 3, 2));
  L.push_back(inner_product("fc6", "pool5", 4096));
  L.push_back(relu("relu6", "fc6"));
  L.push_back(in_place("drop6", "Dropout", "fc6"));
  L.push_back(inner_product("fc7", "fc6", 4096));
  L.push_back(relu("relu7", "fc7"));
  L.push_back(in_place("drop7", "Dropout", "fc7"));
  L.push_back(inner_product("fc8_kevin", "fc7", 48));
  L.push_back(layer("fc8_kevin_encode", "Sigmoid", {"fc8_kevin"}, {"fc8_kevin_encode"}));
  L.push_back(inner_product("fc8_classifier", "fc8_kevin_encode", 10));
  L.push_back(layer("prob", "Softmax", {"fc8_classifier"}, {"prob"}));
  return net;
}

// --- random weights ---

// Weights for every layer with parameters, in the shapes our net gives them (a net built from
// the spec, whose constant fillers cost nothing). Convolutions and inner products get MSRA-scaled
// gaussians (variance 2 / fan-in, so that activations keep their scale through the ReLUs and
// neither vanish nor saturate the sigmoid) and small positive biases; batch normalisation gets
// non-trivial running statistics, stored as Caffe stores them: sums divided out by a
// normaliser (the third blob) that is not 1.
std::vector<nn::LayerWeights> random_weights(const NetSpec& spec, std::uint64_t seed) {
  std::vector<nn::LayerWeights> weights = nn::Net<float>(spec, nn::Phase::Test).weights();
  std::mt19937_64 rng(seed);
  auto uniform = [&](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); };
  for (nn::LayerWeights& w : weights) {
    const auto l =
        std::find_if(spec.layers.begin(), spec.layers.end(), [&](const LayerSpec& s) { return s.name == w.layer; });
    REQUIRE(l != spec.layers.end());
    if (l->type == "Convolution" || l->type == "InnerProduct") {
      std::vector<float>& filters = w.blobs[0].data;
      const double fan_in = double(filters.size()) / w.blobs[0].shape[0];
      std::normal_distribution<float> gauss(0.f, float(std::sqrt(2.0 / fan_in)));
      for (float& x : filters) x = gauss(rng);
      if (w.blobs.size() > 1)
        for (float& x : w.blobs[1].data) x = uniform(0.f, 0.1f);
    } else if (l->type == "BatchNorm") {
      const float normaliser = 3.7f;
      w.blobs[2].data = {normaliser};
      for (float& x : w.blobs[0].data) x = normaliser * uniform(-0.5f, 0.5f);
      for (float& x : w.blobs[1].data) x = normaliser * uniform(0.3f, 2.5f);
    } else if (l->type == "Scale") {
      for (float& x : w.blobs[0].data) x = uniform(0.5f, 1.5f);
      if (w.blobs.size() > 1)
        for (float& x : w.blobs[1].data) x = uniform(-0.3f, 0.3f);
    } else {
      FAIL("no random weights for layer type " << l->type);
    }
  }
  return weights;
}

// --- running both ---

struct Outputs {
  std::vector<int> shape;
  std::vector<float> data;
};
using LayerOutputs = std::map<std::string, Outputs>;  // by layer name

std::vector<std::string> computing_layers(const NetSpec& spec) {
  std::vector<std::string> names;
  for (const LayerSpec& l : spec.layers)
    if (!nn::is_input_type(l.type)) names.push_back(l.name);
  return names;
}

// OpenCV's outputs of every layer. Fusion is turned off so that each layer runs its own kernel
// (with it on, OpenCV may fold a ReLU, BatchNorm or Scale into the layer before it; here the
// results agree either way, but the comparison should not depend on when it does), and the
// OpenCV backend on the CPU is its reference implementation. Outputs are asked for by LAYER
// name: in 4.6, Net::forward(outs, names) resolves each name with getLayerId (layer names, not
// blob names), so "conv1" is the convolution's own output even though the in-place relu1 also
// writes a top called "conv1". Requested outputs are kept out of OpenCV's memory reuse, which
// conv1 keeping its negative values next to relu1's output confirms.
LayerOutputs run_opencv(const std::string& prototxt, const std::string& caffemodel, const NetSpec& spec,
                        const std::vector<int>& input_shape, const std::vector<float>& input) {
  cv::dnn::Net net = cv::dnn::readNetFromCaffe(prototxt, caffemodel);
  REQUIRE_FALSE(net.empty());
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  net.enableFusion(false);
  cv::Mat blob(int(input_shape.size()), input_shape.data(), CV_32F, const_cast<float*>(input.data()));
  net.setInput(blob, spec.inputs.empty() ? spec.layers.front().tops.front() : spec.inputs.front());
  const std::vector<std::string> names = computing_layers(spec);
  std::vector<cv::Mat> outs;
  net.forward(outs, names);
  REQUIRE(outs.size() == names.size());
  LayerOutputs result;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const cv::Mat m = outs[i].isContinuous() ? outs[i] : outs[i].clone();
    REQUIRE(m.type() == CV_32F);
    Outputs& o = result[names[i]];
    o.shape.assign(m.size.p, m.size.p + m.dims);
    o.data.assign(m.ptr<float>(), m.ptr<float>() + m.total());
  }
  return result;
}

// Our outputs of every layer, the net and its weights read from the two files. Every layer
// keeps its own output (allow_in_place = false), so that relu1's does not overwrite conv1's.
LayerOutputs run_ours(const std::string& prototxt, const std::string& caffemodel, const std::vector<int>& input_shape,
                      const std::vector<float>& input) {
  const NetSpec spec = read_caffe_prototxt(prototxt);
  const CaffeModel model = read_caffemodel(caffemodel);
  // The caffemodel describes the same net as the prototxt (layer by layer, type by type).
  REQUIRE(model.net.layers.size() == spec.layers.size());
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    CHECK(model.net.layers[i].name == spec.layers[i].name);
    CHECK(model.net.layers[i].type == spec.layers[i].type);
  }
  const std::string input_name = spec.inputs.empty() ? spec.layers.front().tops.front() : spec.inputs.front();
  nn::NetOptions options;
  options.allow_in_place = false;
  options.input_shapes[input_name] = input_shape;
  nn::Net<float> net(spec, nn::Phase::Test, options);
  const std::vector<std::string> loaded = net.load_weights(model.weights, caffemodel);
  CHECK(loaded.size() == model.weights.size());
  nn::Blob<float>& in = net.blob(input_name);
  REQUIRE(in.count() == input.size());
  std::copy(input.begin(), input.end(), in.data());
  net.forward(nn::RunContext{nn::Phase::Test});
  LayerOutputs result;
  for (std::size_t i = 0; i < net.num_layers(); ++i) {
    if (net.layer(i).type() == "Split") continue;  // inserted by our net, not in the file
    const nn::Blob<float>& top = *net.layer_outputs(i).at(0);
    result[net.layer(i).name()] = {top.shape(), std::vector<float>(top.data(), top.data() + top.count())};
  }
  return result;
}

// Rewrites the prototxt text OpenCV reads (ours reads the file as written), for a field OpenCV
// spells differently; none by default.
using OpenCvSpelling = std::function<std::string(std::string)>;

// The two runs of one net, from files written in one format.
struct Runs {
  LayerOutputs ours, opencv;
  double seconds_opencv = 0, seconds_ours = 0;  // reading the files and running forward
};

Runs run_both(const NetSpec& spec, const std::vector<nn::LayerWeights>& weights, CaffeFormat format,
              const std::vector<int>& input_shape, const std::vector<float>& input,
              const OpenCvSpelling& opencv_spelling = {}) {
  TempDir dir;
  const std::string prototxt = dir.file("deploy.prototxt"), caffemodel = dir.file("weights.caffemodel");
  const std::string text = write_caffe_prototxt(spec, format);
  write_file_atomically(prototxt, text.data(), text.size());
  write_caffemodel(caffemodel, spec, weights, format);
  std::string opencv_prototxt = prototxt;
  if (opencv_spelling) {
    opencv_prototxt = dir.file("deploy_opencv.prototxt");
    const std::string respelled = opencv_spelling(text);
    REQUIRE(respelled != text);  // the spelling must have had something to change
    write_file_atomically(opencv_prototxt, respelled.data(), respelled.size());
  }
  Runs r;
  auto t0 = std::chrono::steady_clock::now();
  r.opencv = run_opencv(opencv_prototxt, caffemodel, spec, input_shape, input);
  r.seconds_opencv = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  r.ours = run_ours(prototxt, caffemodel, input_shape, input);
  r.seconds_ours = seconds_since(t0);
  return r;
}

// max |a - b| / (max |b| + tiny): the error relative to the reference's scale. Any NaN or
// infinity in either makes it infinite.
template <class A, class B>
double relative_error(const std::vector<A>& a, const std::vector<B>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(double(a[i])) || !std::isfinite(double(b[i]))) return HUGE_VAL;
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / (scale + 1e-30);
}

struct Comparison : Runs {
  std::vector<std::pair<std::string, double>> relative_error;  // per layer, in the net's order
  std::string worst_layer;
  double worst = 0;
};

// Runs both and checks every layer's output against OpenCV's to `tolerance` (relative_error).
Comparison compare(const NetSpec& spec, const std::vector<nn::LayerWeights>& weights, CaffeFormat format,
                   const std::vector<int>& input_shape, const std::vector<float>& input, double tolerance,
                   const OpenCvSpelling& opencv_spelling = {}) {
  INFO("net " << spec.name << ", " << format_name(format) << " format");
  Comparison c;
  static_cast<Runs&>(c) = run_both(spec, weights, format, input_shape, input, opencv_spelling);
  for (const std::string& name : computing_layers(spec)) {
    INFO("layer " << name);
    REQUIRE(c.ours.count(name) == 1);
    const Outputs &a = c.ours.at(name), &b = c.opencv.at(name);
    CHECK(nn::shape_text(a.shape) == nn::shape_text(b.shape));
    // An all-zero layer would compare nothing (a dead ReLU layer, say).
    CHECK(std::any_of(b.data.begin(), b.data.end(), [](float x) { return x != 0; }));
    const double e = relative_error(a.data, b.data);
    CHECK(e <= tolerance);
    c.relative_error.push_back({name, e});
    if (e >= c.worst) {
      c.worst = e;
      c.worst_layer = name;
    }
  }
  std::ostringstream per_layer;
  for (const auto& [name, e] : c.relative_error) per_layer << " " << name << "=" << e;
  MESSAGE(spec.name << " (" << format_name(format) << "): worst relative error " << c.worst << " in " << c.worst_layer
                    << "; OpenCV " << c.seconds_opencv << " s, ours " << c.seconds_ours
                    << " s (read + forward); per layer:" << per_layer.str());
  return c;
}

// Caffe's LRN across channels computed directly, in double:
//   y = x (k + alpha / n * sum of x^2 over the n channels centred on x's)^-beta
std::vector<double> caffe_lrn(const std::vector<float>& x, const std::vector<int>& shape, const nn::LrnSpec& s) {
  const int num = shape[0], channels = shape[1], plane = shape[2] * shape[3];
  std::vector<double> y(x.size());
  for (int n = 0; n < num; ++n)
    for (int c = 0; c < channels; ++c)
      for (int i = 0; i < plane; ++i) {
        double sum = 0;
        for (int j = std::max(0, c - s.local_size / 2); j <= std::min(channels - 1, c + s.local_size / 2); ++j) {
          const double v = x[(std::size_t(n) * channels + j) * plane + i];
          sum += v * v;
        }
        const std::size_t at = (std::size_t(n) * channels + c) * plane + i;
        y[at] = x[at] * std::pow(double(s.k) + double(s.alpha) / s.local_size * sum, -double(s.beta));
      }
  return y;
}

std::vector<float> random_input(const std::vector<int>& shape, std::uint64_t seed) {
  std::size_t n = 1;
  for (int d : shape) n *= std::size_t(d);
  std::vector<float> x(n);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& v : x) v = u(rng);
  return x;
}

// Agreement with OpenCV to this fraction of each layer's largest magnitude. Both compute in
// single precision, summing in different orders; the differences seen are 1e-7 to 1e-6 of the
// scale (2.4e-6 at worst, KevinNet's sigmoid after three 4096-wide inner products).
constexpr double kTolerance = 1e-5;

}  // namespace

TEST_CASE("OpenCV oracle: KevinNet with random weights, every layer and the 48-bit codes, V1 and current files") {
  const auto t0 = std::chrono::steady_clock::now();
  const NetSpec spec = kevinnet_deploy();
  const std::vector<nn::LayerWeights> weights = random_weights(spec, 2015);
  // The deploy net declares one image; a batch of two checks that both readers take the batch
  // size from the input rather than from the file.
  const std::vector<int> shape{2, 3, 227, 227};
  const std::vector<float> input = random_input(shape, 48);
  MESSAGE("KevinNet: random weights in " << seconds_since(t0) << " s");

  for (CaffeFormat format : {CaffeFormat::V1, CaffeFormat::Current}) {
    const Comparison c = compare(spec, weights, format, shape, input, kTolerance);
    // The codes: bit j of image i is set where the sigmoid is above 0.5. A bit may differ only
    // where OpenCV's activation lies within what the layer comparison allows (kTolerance of a
    // scale of at most 1) of 0.5, so that rounding decides it.
    const Outputs &ours = c.ours.at("fc8_kevin_encode"), &theirs = c.opencv.at("fc8_kevin_encode");
    REQUIRE(ours.data.size() == 2 * 48);
    const BitCodes a = binarize(ours.data.data(), 2, 48), b = binarize(theirs.data.data(), 2, 48);
    int set = 0, differ = 0;
    for (std::size_t i = 0; i < 2; ++i)
      for (int j = 0; j < 48; ++j) {
        set += a.bit(i, j);
        if (a.bit(i, j) == b.bit(i, j)) continue;
        ++differ;
        INFO("image " << i << " bit " << j << ": ours " << ours.data[i * 48 + j] << ", OpenCV "
                      << theirs.data[i * 48 + j]);
        CHECK(std::abs(double(theirs.data[i * 48 + j]) - 0.5) <= kTolerance);
      }
    // Codes of all zeros or all ones would agree trivially: the weights must give mixed bits.
    CHECK(set > 10);
    CHECK(set < 86);
    MESSAGE("KevinNet codes: " << set << " of 96 bits set, " << differ << " differ from OpenCV's");
  }
  MESSAGE("KevinNet case: " << seconds_since(t0) << " s in all");
}

// Covers what KevinNet does not: padded average pooling where Caffe's ceil rule gives one more
// output than floor would and where the last window would start in the padding (and is
// dropped), padded max pooling, a LeakyReLU, a strong LRN, a grouped 1x1 convolution,
// rectangular kernels with unequal strides and pads, an inner product of a 4-D input.
TEST_CASE("OpenCV oracle: pooling, LRN and convolution shapes, V1 and current files") {
  NetSpec net;
  net.name = "pooling_lrn_shapes";
  net.inputs = {"data"};
  net.input_shapes = {{2, 3, 23, 19}};
  auto& L = net.layers;
  L.push_back(convolution_hw("conv_rect", "data", 8, 5, 3, 2, 1, 2, 1));  // -> 8 x 12 x 19
  L.push_back(relu("leaky", "conv_rect", 0.1f));
  L.push_back(pooling("ave_ceil", "conv_rect", kAve, 3, 2, 1));  // rows: ceil 7, floor 6 -> 8 x 7 x 10
  L.push_back(lrn("norm", "ave_ceil", 3, 0.5f, 0.6f));
  L.push_back(convolution("conv_1x1", "norm", 6, 1, 1, 0, 2));  // grouped 1x1 -> 6 x 7 x 10
  L.push_back(pooling("max_ceil", "conv_1x1", kMax, 3, 2, 1));  // columns: ceil 6, floor 5 -> 6 x 4 x 6
  // Rows: ceil((4 + 4 - 3) / 3) + 1 = 3, but the third window would start at row 6 - 2 = 4,
  // inside the bottom padding, and is dropped; likewise the fourth column. -> 6 x 2 x 3
  L.push_back(pooling("ave_clipped", "max_ceil", kAve, 3, 3, 2));
  L.push_back(inner_product("ip_4d", "ave_clipped", 7));
  L.push_back(layer("prob", "Softmax", {"ip_4d"}, {"prob"}));
  const auto weights = random_weights(net, 7);
  const std::vector<int> shape = net.input_shapes[0];
  const auto input = random_input(shape, 8);
  for (CaffeFormat format : {CaffeFormat::V1, CaffeFormat::Current}) {
    const Comparison c = compare(net, weights, format, shape, input, kTolerance);
    CHECK(nn::shape_text(c.ours.at("ave_ceil").shape) == nn::shape_text({2, 8, 7, 10}));
    CHECK(nn::shape_text(c.ours.at("max_ceil").shape) == nn::shape_text({2, 6, 4, 6}));
    CHECK(nn::shape_text(c.ours.at("ave_clipped").shape) == nn::shape_text({2, 6, 2, 3}));
  }
}

// A residual block with batch normalisation, as ResNets have it (current format only: V1 has
// no BatchNorm or Scale), declared by an Input layer rather than net-level inputs.
TEST_CASE("OpenCV oracle: BatchNorm, Scale, Eltwise and global pooling in a residual block") {
  NetSpec net;
  net.name = "residual_bn";
  auto& L = net.layers;
  L.push_back(layer("input", "Input", {}, {"data"}));
  L.back().input.shapes = {{2, 4, 9, 9}};
  L.push_back(convolution_hw("conv1", "data", 8, 3, 3, 1, 1, 1, 1, 1, false));
  L.push_back(in_place("bn1", "BatchNorm", "conv1"));
  L.push_back(in_place("scale1", "Scale", "conv1"));
  L.back().scale.bias_term = true;
  L.push_back(relu("relu1", "conv1"));
  L.push_back(convolution_hw("conv2", "conv1", 8, 3, 3, 1, 1, 1, 1, 1, false));
  L.push_back(in_place("bn2", "BatchNorm", "conv2"));
  L.back().batch_norm.eps = 1e-3f;
  L.push_back(in_place("scale2", "Scale", "conv2"));  // no bias term
  L.push_back(layer("sum", "Eltwise", {"conv1", "conv2"}, {"sum"}));
  L.push_back(relu("relu_sum", "sum"));
  L.push_back(convolution("conv3", "sum", 16, 1, 2));      // 1x1, stride 2 -> 16 x 5 x 5
  L.push_back(convolution("conv3b", "sum", 16, 3, 2, 1));  // 3x3, stride 2, pad 1 -> 16 x 5 x 5
  // Both global poolings are averages: a global MAX pooling written with Caffe's defaults left
  // out (pooling_param { global_pooling: true }, as write_caffe_prototxt writes it) has neither
  // `pool` nor a kernel size, and OpenCV 4.6 refuses such a layer ("Cannot determine pooling
  // type", pooling_layer.cpp) although Caffe reads it.
  L.push_back(global_pooling("gap", "conv3", kAve));
  L.push_back(global_pooling("gap_b", "conv3b", kAve));
  L.push_back(layer("mix", "Eltwise", {"gap", "gap_b"}, {"mix"}));
  L.back().eltwise.coeff = {0.5f, -1.5f};
  L.push_back(inner_product("ip", "mix", 5));
  L.push_back(layer("prob", "Softmax", {"ip"}, {"prob"}));
  const auto weights = random_weights(net, 11);
  const std::vector<int> shape{2, 4, 9, 9};
  const auto input = random_input(shape, 12);
  const Comparison c = compare(net, weights, CaffeFormat::Current, shape, input, kTolerance);
  CHECK(c.ours.at("gap").shape == std::vector<int>{2, 16, 1, 1});
}

// LRN with k != 1 is kept out of the comparisons above because OpenCV 4.6 ignores Caffe's
// lrn_param.k: its LRN layer reads a parameter named "bias" (default 1), which the Caffe importer,
// passing each field on under its own name, never sets; its output for any k equals ours for
// k = 1. So ours is checked against Caffe's formula, and OpenCV's against the formula for
// k = 1, which still checks that local_size, alpha and beta reach it from our files.
TEST_CASE("OpenCV oracle: LRN with k != 1, which OpenCV ignores, against Caffe's formula") {
  NetSpec net;
  net.name = "lrn_k";
  net.inputs = {"data"};
  net.input_shapes = {{2, 7, 5, 5}};
  net.layers.push_back(lrn("norm_k2", "data", 5, 2.f, 0.75f, 2.f));
  net.layers.push_back(lrn("norm_k05", "data", 3, 1.5f, 0.6f, 0.5f));
  const std::vector<int> shape = net.input_shapes[0];
  const auto input = random_input(shape, 3);
  for (CaffeFormat format : {CaffeFormat::V1, CaffeFormat::Current}) {
    const Runs r = run_both(net, {}, format, shape, input);
    for (const LayerSpec& l : net.layers) {
      INFO("layer " << l.name << ", " << format_name(format) << " format");
      nn::LrnSpec k1 = l.lrn;
      k1.k = 1;
      const std::vector<double> expected = caffe_lrn(input, shape, l.lrn), expected_k1 = caffe_lrn(input, shape, k1);
      // The inputs make k matter, so the checks below tell the two formulas apart.
      REQUIRE(relative_error(expected, expected_k1) > 0.1);
      CHECK(relative_error(r.ours.at(l.name).data, expected) <= kTolerance);
      const double opencv_k = relative_error(r.opencv.at(l.name).data, expected);
      const double opencv_k1 = relative_error(r.opencv.at(l.name).data, expected_k1);
      CHECK(std::min(opencv_k, opencv_k1) <= kTolerance);
      if (opencv_k1 <= kTolerance && format == CaffeFormat::Current)
        MESSAGE("OpenCV computes " << l.name << " with k = 1 instead of k = " << l.lrn.k
                                   << " (it ignores lrn_param.k)");
    }
  }
}

constexpr CaffeFormat kBothFormats[] = {CaffeFormat::V1, CaffeFormat::Current};
constexpr CaffeFormat kCurrentFormat[] = {CaffeFormat::Current};

// compare() of `net` with random weights and a random input of its declared shape (both drawn
// from `seed`), once for each format, in order.
template <std::size_t N>
std::vector<Comparison> compare_random(const NetSpec& net, std::uint64_t seed, const CaffeFormat (&formats)[N],
                                       const OpenCvSpelling& opencv_spelling = {}) {
  const auto weights = random_weights(net, seed);
  const std::vector<int> shape = net.input_shapes.at(0);
  const auto input = random_input(shape, seed + 1);
  std::vector<Comparison> result;
  for (CaffeFormat format : formats)
    result.push_back(compare(net, weights, format, shape, input, kTolerance, opencv_spelling));
  return result;
}

// GoogLeNet's inception module as bvlc_googlenet has it, small: four branches (1x1; 1x1 reduce
// then 3x3; 1x1 reduce then 5x5; 3x3 max pooling with stride 1 then a 1x1 projection) joined by a
// Concat along the channels, between the stem's ceil-rounded max pooling and the head's average
// pooling, dropout, classifier and softmax.
NetSpec inception_net() {
  NetSpec net;
  net.name = "inception";
  net.inputs = {"data"};
  net.input_shapes = {{2, 3, 19, 19}};
  auto& L = net.layers;
  L.push_back(convolution("conv1", "data", 8, 3, 1, 1));
  L.push_back(relu("conv1_relu", "conv1"));
  L.push_back(pooling("pool1", "conv1", kMax, 3, 2));  // 19 -> 9
  L.push_back(convolution("3a_1x1", "pool1", 4, 1));
  L.push_back(relu("3a_relu_1x1", "3a_1x1"));
  L.push_back(convolution("3a_3x3_reduce", "pool1", 3, 1));
  L.push_back(relu("3a_relu_3x3_reduce", "3a_3x3_reduce"));
  L.push_back(convolution("3a_3x3", "3a_3x3_reduce", 5, 3, 1, 1));
  L.push_back(relu("3a_relu_3x3", "3a_3x3"));
  L.push_back(convolution("3a_5x5_reduce", "pool1", 2, 1));
  L.push_back(relu("3a_relu_5x5_reduce", "3a_5x5_reduce"));
  L.push_back(convolution("3a_5x5", "3a_5x5_reduce", 3, 5, 1, 2));
  L.push_back(relu("3a_relu_5x5", "3a_5x5"));
  L.push_back(pooling("3a_pool", "pool1", kMax, 3, 1, 1));
  L.push_back(convolution("3a_pool_proj", "3a_pool", 3, 1));
  L.push_back(relu("3a_relu_pool_proj", "3a_pool_proj"));
  L.push_back(concat("3a_output", {"3a_1x1", "3a_3x3", "3a_5x5", "3a_pool_proj"}));  // 15 x 9 x 9
  L.push_back(pooling("pool3", "3a_output", kMax, 3, 2));                            // 9 -> 4
  L.push_back(pooling("pool5", "pool3", kAve, 4, 1));                                // 1 x 1
  L.push_back(in_place("pool5_drop", "Dropout", "pool5"));
  L.push_back(inner_product("classifier", "pool5", 10));
  L.push_back(layer("prob", "Softmax", {"classifier"}, {"prob"}));
  return net;
}

// SqueezeNet's fire module (v1.0 and v1.1 have the same): a 1x1 squeeze, then 1x1 and 3x3
// expands joined by a Concat; the head is a 1x1 convolution, global average pooling and a
// softmax over the 4-D pooled blob (N x C x 1 x 1), as in SqueezeNet's deploy files.
NetSpec fire_net() {
  NetSpec net;
  net.name = "fire";
  net.inputs = {"data"};
  net.input_shapes = {{2, 3, 15, 15}};
  auto& L = net.layers;
  L.push_back(convolution("conv1", "data", 8, 3, 2));  // 15 -> 7
  L.push_back(relu("relu_conv1", "conv1"));
  L.push_back(pooling("pool1", "conv1", kMax, 3, 2));  // 7 -> 3
  L.push_back(convolution("fire2_squeeze1x1", "pool1", 4, 1));
  L.push_back(relu("fire2_relu_squeeze1x1", "fire2_squeeze1x1"));
  L.push_back(convolution("fire2_expand1x1", "fire2_squeeze1x1", 6, 1));
  L.push_back(relu("fire2_relu_expand1x1", "fire2_expand1x1"));
  L.push_back(convolution("fire2_expand3x3", "fire2_squeeze1x1", 6, 3, 1, 1));
  L.push_back(relu("fire2_relu_expand3x3", "fire2_expand3x3"));
  L.push_back(concat("fire2_concat", {"fire2_expand1x1", "fire2_expand3x3"}));  // 12 x 3 x 3
  L.push_back(in_place("drop9", "Dropout", "fire2_concat"));
  L.push_back(convolution("conv10", "fire2_concat", 10, 1));
  L.push_back(relu("relu_conv10", "conv10"));
  L.push_back(global_pooling("pool10", "conv10", kAve));
  L.push_back(layer("prob", "Softmax", {"pool10"}, {"prob"}));
  return net;
}

// ResNet-50's bottleneck block with the projection shortcut (res2a / res3a): branch1 a strided
// 1x1 convolution, branch2 1x1 / 3x3 / 1x1; every convolution without bias and followed by
// BatchNorm with use_global_stats and a Scale with bias, the branches summed by an Eltwise, then
// ReLU; the head as ResNet-50's (average pooling over the whole map, fc, softmax).
NetSpec bottleneck_net() {
  NetSpec net;
  net.name = "bottleneck";
  net.inputs = {"data"};
  net.input_shapes = {{2, 8, 8, 8}};
  auto& L = net.layers;
  const auto conv_bn = [&](const std::string& name, const std::string& bottom, int outputs, int kernel, int stride,
                           int pad, bool relu_after) {
    L.push_back(convolution_hw(name, bottom, outputs, kernel, kernel, stride, stride, pad, pad, 1, false));
    L.push_back(batch_norm_global("bn" + name, name));
    L.push_back(scale_with_bias("scale" + name, name));
    if (relu_after) L.push_back(relu(name + "_relu", name));
  };
  conv_bn("res3a_branch1", "data", 16, 1, 2, 0, false);  // -> 16 x 4 x 4
  conv_bn("res3a_branch2a", "data", 4, 1, 2, 0, true);
  conv_bn("res3a_branch2b", "res3a_branch2a", 4, 3, 1, 1, true);
  conv_bn("res3a_branch2c", "res3a_branch2b", 16, 1, 1, 0, false);
  L.push_back(layer("res3a", "Eltwise", {"res3a_branch1", "res3a_branch2c"}, {"res3a"}));
  L.push_back(relu("res3a_relu", "res3a"));
  L.push_back(pooling("pool5", "res3a", kAve, 4, 1));
  L.push_back(inner_product("fc", "pool5", 10));
  L.push_back(layer("prob", "Softmax", {"fc"}, {"prob"}));
  return net;
}

TEST_CASE("OpenCV oracle: a GoogLeNet inception module (Concat of four branches), V1 and current files") {
  for (const Comparison& c : compare_random(inception_net(), 31, kBothFormats))
    CHECK(c.ours.at("3a_output").shape == std::vector<int>{2, 15, 9, 9});
}

TEST_CASE("OpenCV oracle: a SqueezeNet fire module and its global-average-pooling head, V1 and current files") {
  for (const Comparison& c : compare_random(fire_net(), 33, kBothFormats)) {
    CHECK(c.ours.at("fire2_concat").shape == std::vector<int>{2, 12, 3, 3});
    CHECK(c.ours.at("prob").shape == std::vector<int>{2, 10, 1, 1});
  }
}

// Current format only: V1 has no BatchNorm or Scale.
TEST_CASE("OpenCV oracle: a ResNet-50 bottleneck block with projection shortcut") {
  for (const Comparison& c : compare_random(bottleneck_net(), 35, kCurrentFormat))
    CHECK(c.ours.at("res3a").shape == std::vector<int>{2, 16, 4, 4});
}

// Flatten (default and with axes) and Concat of flattened blobs before inner products, in both
// formats; Reshape (with a copied 0 and an inferred -1, and with axis / num_axes) only in the
// current format, which alone has it.
TEST_CASE("OpenCV oracle: Flatten, Reshape and Concat along other axes before inner products") {
  NetSpec net;
  net.name = "flatten_concat";
  net.inputs = {"data"};
  net.input_shapes = {{2, 3, 6, 6}};
  auto& L = net.layers;
  L.push_back(convolution("conv", "data", 4, 3));  // 4 x 4 x 4
  L.push_back(relu("relu", "conv", 0.2f));
  L.push_back(layer("flat", "Flatten", {"conv"}, {"flat"}));  // 64
  L.push_back(layer("flat_data", "Flatten", {"data"}, {"flat_data"}));  // 108
  L.push_back(concat("joined", {"flat", "flat_data"}));               // 172
  L.push_back(inner_product("ip", "joined", 6));
  L.push_back(concat("rows", {"conv", "conv"}, -2));  // 4 x 8 x 4: along the height, counted from the end
  L.push_back(inner_product("ip_rows", "rows", 5));
  L.push_back(layer("prob", "Softmax", {"ip"}, {"prob"}));
  for (const Comparison& c : compare_random(net, 37, kBothFormats)) {
    CHECK(c.ours.at("joined").shape == std::vector<int>{2, 172});
    CHECK(c.ours.at("rows").shape == std::vector<int>{2, 4, 8, 4});
  }

  NetSpec current = net;
  current.name = "reshape_flatten";
  auto& R = current.layers;
  R.push_back(layer("reshaped", "Reshape", {"conv"}, {"reshaped"}));  // 4 x 16: channels kept, the rest inferred
  R.back().reshape.shape = {0, 0, -1};
  R.push_back(layer("flat_hw", "Flatten", {"conv"}, {"flat_hw"}));  // 4 x 16 again, by axes
  R.back().flatten = {2, 3};
  // The last axis split back: 4 x 2 x 8. (Given as axis 2, not -2: OpenCV 4.6 refuses a negative
  // Reshape axis, which Caffe allows and test_layers checks against caffe.proto's examples.)
  R.push_back(layer("split_w", "Reshape", {"flat_hw"}, {"split_w"}));
  R.back().reshape = {{2, -1}, 2, 1};
  R.push_back(inner_product("ip_reshaped", "split_w", 3));
  for (const Comparison& c : compare_random(current, 39, kCurrentFormat)) {
    CHECK(c.ours.at("reshaped").shape == std::vector<int>{2, 4, 16});
    CHECK(c.ours.at("flat_hw").shape == std::vector<int>{2, 4, 16});
    CHECK(c.ours.at("split_w").shape == std::vector<int>{2, 4, 2, 8});
  }
}

// OpenCV 4.6's copy of caffe.proto has no pooling_param.round_mode (Caffe's field 13, CEIL = 0 /
// FLOOR = 1, added in 2017): its text reader refuses `round_mode: FLOOR` as an unknown field. It
// has its own `ceil_mode` (a bool, default true) instead, so OpenCV reads the prototxt with that
// spelling; it takes layer settings from the prototxt and only the weights from the caffemodel.
TEST_CASE("OpenCV oracle: pooling with round_mode FLOOR against OpenCV's ceil_mode: false, V1 and current files") {
  NetSpec net;
  net.name = "round_mode";
  net.inputs = {"data"};
  net.input_shapes = {{2, 3, 14, 14}};
  auto& L = net.layers;
  L.push_back(pooling("max_ceil", "data", kMax, 3, 2));    // 14: ceil(5.5) + 1 = 7
  L.push_back(pooling("max_floor", "data", kMax, 3, 2));   // floor(5.5) + 1 = 6
  L.back().pooling.round_mode = nn::PoolingSpec::RoundMode::Floor;
  L.push_back(pooling("ave_floor", "max_floor", kAve, 2, 2, 1));  // 6 + 2 - 2 = 6: 4
  L.back().pooling.round_mode = nn::PoolingSpec::RoundMode::Floor;
  const auto respell = [](std::string text) {
    for (std::size_t at; (at = text.find("round_mode: FLOOR")) != std::string::npos;)
      text.replace(at, std::string("round_mode: FLOOR").size(), "ceil_mode: false");
    return text;
  };
  for (const Comparison& c : compare_random(net, 40, kBothFormats, respell)) {
    CHECK(c.ours.at("max_ceil").shape == std::vector<int>{2, 3, 7, 7});
    CHECK(c.ours.at("max_floor").shape == std::vector<int>{2, 3, 6, 6});
    CHECK(c.ours.at("ave_floor").shape == std::vector<int>{2, 3, 4, 4});
  }
}

#else  // !DEEPHASH_HAVE_OPENCV_DNN

#include "support.hpp"

// Without the oracle nothing is checked: reported to ctest as skipped (77), naming what is absent.
TEST_CASE("OpenCV oracle: needs OpenCV") {
  deephash::test::skip_unless(false, "OpenCV (core and dnn) was not found when configuring (Debian: libopencv-dnn-dev)");
}

#endif
