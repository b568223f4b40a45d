// Caffe file formats: the protobuf wire and text layers, prototxt nets (current and V1 forms),
// caffemodels against fixtures made by protoc (an independent encoder) and decoded by protoc (an
// independent check of our writer), hostile inputs, and a model larger than 64 MB.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <random>
#include <sstream>

#include <deephash/io/caffe/prototxt.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/io/protobuf/text_format.hpp>
#include <deephash/io/protobuf/wire.hpp>

#include "support.hpp"

using namespace deephash;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}
std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every field of a NetSpec, one per line, so that a mismatch shows where it is.
std::string dump(const nn::FillerSpec& f) {
  std::ostringstream o;
  o << std::setprecision(9) << "{" << f.type << " value=" << f.value << " min=" << f.min
    << " max=" << f.max << " mean=" << f.mean << " std=" << f.std << " vn=" << f.variance_norm << "}";
  return o.str();
}
std::string dump(const std::vector<int>& v) {
  std::string s = "[";
  for (int x : v) s += std::to_string(x) + " ";
  return s + "]";
}
std::string dump(const nn::NetSpec& net) {
  std::ostringstream o;
  o << std::setprecision(9);
  o << "net " << net.name << "\n";
  for (const auto& i : net.inputs) o << "input " << i << "\n";
  for (const auto& s : net.input_shapes) o << "input_shape " << dump(s) << "\n";
  for (const nn::LayerSpec& l : net.layers) {
    o << "layer '" << l.name << "' type " << l.type << "\n";
    for (const auto& b : l.bottoms) o << "  bottom " << b << "\n";
    for (const auto& t : l.tops) o << "  top " << t << "\n";
    for (const auto& p : l.params) o << "  param " << p.lr_mult << " " << p.decay_mult << "\n";
    for (float w : l.loss_weights) o << "  loss_weight " << w << "\n";
    o << "  phase " << (l.phase ? (*l.phase == nn::Phase::Train ? "train" : "test") : "both") << "\n";
    const auto& c = l.convolution;
    o << "  conv " << c.num_output << " " << c.bias_term << " k" << c.kernel_h << "x" << c.kernel_w
      << " s" << c.stride_h << "x" << c.stride_w << " p" << c.pad_h << "x" << c.pad_w << " d"
      << c.dilation << " g" << c.group << " " << dump(c.weight_filler) << " " << dump(c.bias_filler)
      << "\n";
    const auto& p = l.pooling;
    o << "  pool " << int(p.method) << " k" << p.kernel_h << "x" << p.kernel_w << " s" << p.stride_h
      << "x" << p.stride_w << " p" << p.pad_h << "x" << p.pad_w << " global " << p.global_pooling
      << " round " << int(p.round_mode) << "\n";
    const auto& ip = l.inner_product;
    o << "  ip " << ip.num_output << " " << ip.bias_term << " axis " << ip.axis << " "
      << dump(ip.weight_filler) << " " << dump(ip.bias_filler) << "\n";
    o << "  lrn " << l.lrn.local_size << " " << l.lrn.alpha << " " << l.lrn.beta << " " << l.lrn.k << "\n";
    o << "  dropout " << l.dropout.ratio << " relu " << l.relu.negative_slope << " softmax "
      << l.softmax.axis << " smoothing " << l.softmax.label_smoothing << "\n";
    const auto& bn = l.batch_norm;
    o << "  bn " << (bn.use_global_stats ? (*bn.use_global_stats ? "global" : "batch") : "default")
      << " " << bn.moving_average_fraction << " " << bn.eps << "\n";
    const auto& s = l.scale;
    o << "  scale " << s.bias_term << " " << s.axis << " " << dump(s.filler) << " " << dump(s.bias_filler) << "\n";
    o << "  eltwise " << int(l.eltwise.operation);
    for (float x : l.eltwise.coeff) o << " " << x;
    o << "\n";
    o << "  concat " << l.concat.axis << " flatten " << l.flatten.axis << " " << l.flatten.end_axis << " reshape "
      << dump(l.reshape.shape) << " " << l.reshape.axis << " " << l.reshape.num_axes << "\n";
    const auto& lt = l.latent;
    o << "  latent " << lt.num_output << " " << dump(lt.weight_filler) << " " << dump(lt.bias_filler)
      << " " << lt.binarization_weight << " " << lt.balance_weight << "\n";
    for (const auto& shape : l.input.shapes) o << "  input " << dump(shape) << "\n";
  }
  return o.str();
}

const nn::LayerSpec& layer_named(const nn::NetSpec& net, const std::string& name) {
  for (const auto& l : net.layers)
    if (l.name == name) return l;
  FAIL("no layer " << name);
  return net.layers.front();
}

bool have_protoc() { return std::system("protoc --version > /dev/null 2>&1") == 0; }

const std::string kProtoDir = std::string(DEEPHASH_SOURCE_DIR) + "/tests/data";

// Runs protoc --encode / --decode on files; true when protoc succeeded.
bool protoc(const std::string& mode, const std::string& in, const std::string& out) {
  const std::string cmd = "protoc --proto_path=" + kProtoDir + " --" + mode +
                          "=caffe.NetParameter " + kProtoDir + "/caffe_subset.proto < '" + in +
                          "' > '" + out + "' 2> '" + out + ".stderr'";
  const bool ok = std::system(cmd.c_str()) == 0;
  if (!ok) MESSAGE("protoc failed: " << read_text_file(out + ".stderr"));
  return ok;
}

// --- the KevinNet of the paper, in both prototxt forms ---

const char* kKevinNetV1 = R"(# KevinNet (Lin et al. 2015): CaffeNet with a 48-bit latent layer, old V1 syntax.
name: "KevinNet_CIFAR10_48"
input: "data"
input_dim: 10
input_dim: 3
input_dim: 227
input_dim: 227
input: "label"
input_dim: 10
input_dim: 1
input_dim: 1
input_dim: 1
layers {
  name: "conv1"
  type: CONVOLUTION
  bottom: "data"
  top: "conv1"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param {
    num_output: 96
    kernel_size: 11
    stride: 4
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 0 }
    engine: CAFFE   # not used by deephash: ignored
  }
}
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers {
  name: "pool1"
  type: POOLING
  bottom: "conv1"
  top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 }
}
layers {
  name: "norm1"
  type: LRN
  bottom: "pool1"
  top: "norm1"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }
}
layers {
  name: "conv2"
  type: CONVOLUTION
  bottom: "norm1"
  top: "conv2"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param {
    num_output: 256
    pad: 2
    kernel_size: 5
    group: 2
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 1 }
  }
}
layers { name: "relu2" type: RELU bottom: "conv2" top: "conv2" }
layers {
  name: "pool2"
  type: POOLING
  bottom: "conv2"
  top: "pool2"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 }
}
layers {
  name: "norm2"
  type: LRN
  bottom: "pool2"
  top: "norm2"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }
}
layers {
  name: "conv3"
  type: CONVOLUTION
  bottom: "norm2"
  top: "conv3"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param {
    num_output: 384
    pad: 1
    kernel_size: 3
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 0 }
  }
}
layers { name: "relu3" type: RELU bottom: "conv3" top: "conv3" }
layers {
  name: "conv4"
  type: CONVOLUTION
  bottom: "conv3"
  top: "conv4"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param {
    num_output: 384
    pad: 1
    kernel_size: 3
    group: 2
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 1 }
  }
}
layers { name: "relu4" type: RELU bottom: "conv4" top: "conv4" }
layers {
  name: "conv5"
  type: CONVOLUTION
  bottom: "conv4"
  top: "conv5"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param {
    num_output: 256
    pad: 1
    kernel_size: 3
    group: 2
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 1 }
  }
}
layers { name: "relu5" type: RELU bottom: "conv5" top: "conv5" }
layers {
  name: "pool5"
  type: POOLING
  bottom: "conv5"
  top: "pool5"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 }
}
layers {
  name: "fc6"
  type: INNER_PRODUCT
  bottom: "pool5"
  top: "fc6"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  inner_product_param {
    num_output: 4096
    weight_filler { type: "gaussian" std: 0.005 }
    bias_filler { type: "constant" value: 1 }
  }
}
layers { name: "relu6" type: RELU bottom: "fc6" top: "fc6" }
layers {
  name: "drop6"
  type: DROPOUT
  bottom: "fc6"
  top: "fc6"
  dropout_param { dropout_ratio: 0.5 }
}
layers {
  name: "fc7"
  type: INNER_PRODUCT
  bottom: "fc6"
  top: "fc7"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  inner_product_param {
    num_output: 4096
    weight_filler { type: "gaussian" std: 0.005 }
    bias_filler { type: "constant" value: 1 }
  }
}
layers { name: "relu7" type: RELU bottom: "fc7" top: "fc7" }
layers {
  name: "drop7"
  type: DROPOUT
  bottom: "fc7"
  top: "fc7"
  dropout_param { dropout_ratio: 0.5 }
}
layers {
  name: "fc8_kevin"
  type: INNER_PRODUCT
  bottom: "fc7"
  top: "fc8_kevin"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  inner_product_param {
    num_output: 48
    weight_filler { type: "gaussian" std: 0.005 }
    bias_filler { type: "constant" value: 1 }
  }
}
layers { name: "fc8_kevin_encode" type: SIGMOID bottom: "fc8_kevin" top: "fc8_kevin_encode" }
layers {
  name: "fc8_pascal"
  type: INNER_PRODUCT
  bottom: "fc8_kevin_encode"
  top: "fc8_pascal"
  blobs_lr: 10
  blobs_lr: 20
  weight_decay: 1
  weight_decay: 0
  inner_product_param {
    num_output: 10
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 0 }
  }
}
layers { name: "loss" type: SOFTMAX_LOSS bottom: "fc8_pascal" bottom: "label" top: "loss" }
layers {
  name: "accuracy"
  type: ACCURACY
  bottom: "fc8_pascal"
  bottom: "label"
  top: "accuracy"
  include: { phase: TEST }
}
)";

// The same net in the current syntax, written in a deliberately different style: other
// orders, separators, `:` before `{`, lists and the `< >` delimiters all mean the same.
const char* kKevinNetCurrent = R"(name: "KevinNet_CIFAR10_48"
input: "data"
input_shape { dim: [10, 3, 227, 227] }
input: "label"
input_shape: { dim: 10 dim: 1 dim: 1 dim: 1 }
layer {
  name: "conv1"; type: "Convolution"; bottom: "data"; top: "conv1";
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param {
    num_output: 96
    kernel_size: 11
    stride: 4
    weight_filler < type: "gaussian", std: 1e-2 >
    bias_filler { type: 'constant' }
  }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1"
  lrn_param { local_size: 5 alpha: 1e-4 beta: 0.75 } }
layer { name: "conv2" type: "Convolution" bottom: "norm1" top: "conv2"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2
    weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 1.0 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { kernel_size: 3 stride: 2 } }
layer { name: "norm2" type: "LRN" bottom: "pool2" top: "norm2"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "conv3" type: "Convolution" bottom: "norm2" top: "conv3"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 384 pad: 1 kernel_size: 3
    weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" } } }
layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" }
layer { name: "conv4" type: "Convolution" bottom: "conv3" top: "conv4"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 384 pad: [1, 1] kernel_h: 3 kernel_w: 3 group: 2
    weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu4" type: "ReLU" bottom: "conv4" top: "conv4" }
layer { name: "conv5" type: "Convolution" bottom: "conv4" top: "conv5"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 256 pad: 1 kernel_size: 3 group: 2
    weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu5" type: "ReLU" bottom: "conv5" top: "conv5" }
layer { name: "pool5" type: "Pooling" bottom: "conv5" top: "pool5"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool5" top: "fc6"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 4096
    weight_filler { type: "gaussian" std: 0.005 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 4096
    weight_filler { type: "gaussian" std: 0.005 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7" }
layer { name: "drop7" type: "Dropout" bottom: "fc7" top: "fc7" }
layer { name: "fc8_kevin" type: "InnerProduct" bottom: "fc7" top: "fc8_kevin"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 48
    weight_filler { type: "gaussian" std: 0.005 } bias_filler { type: "constant" value: 1 } } }
layer { name: "fc8_kevin_encode" type: "Sigmoid" bottom: "fc8_kevin" top: "fc8_kevin_encode" }
layer { name: "fc8_pascal" type: "InnerProduct" bottom: "fc8_kevin_encode" top: "fc8_pascal"
  param { lr_mult: 10 decay_mult: 1 } param { lr_mult: 20 decay_mult: 0 }
  inner_product_param { num_output: 10
    weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 0 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: ["fc8_pascal", "label"] top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "fc8_pascal" bottom: "label" top: "accuracy"
  exclude { phase: TRAIN } }
)";

// A net that sets every field of net_spec.hpp to something other than its default somewhere.
nn::NetSpec everything_net() {
  nn::NetSpec net;
  net.name = "every \"field\"\tand\\escape";
  net.inputs = {"data", "aux"};
  net.input_shapes = {{2, 3, 17, 19}, {2, 5}};
  auto add = [&](const std::string& name, const std::string& type,
                 std::vector<std::string> bottoms, std::vector<std::string> tops) -> nn::LayerSpec& {
    nn::LayerSpec l;
    l.name = name;
    l.type = type;
    l.bottoms = std::move(bottoms);
    l.tops = std::move(tops);
    net.layers.push_back(l);
    return net.layers.back();
  };
  {
    auto& l = add("extra", "Input", {}, {"extra", "extra2"});
    l.input.shapes = {{1, 2, 3}, {4}};
  }
  {
    auto& l = add("conv", "Convolution", {"data"}, {"conv"});
    auto& c = l.convolution;
    c.num_output = 7;
    c.bias_term = false;
    c.kernel_h = 3, c.kernel_w = 5;
    c.stride_h = 2, c.stride_w = 1;
    c.pad_h = 1, c.pad_w = 0;
    c.dilation = 2;
    c.group = 7;
    c.weight_filler = {"xavier", 0, 0, 1, 0, 1, "AVERAGE"};
    c.bias_filler = {"uniform", 0, -0.5f, 0.25f, 0, 1, "FAN_IN"};
    l.params = {{0.5f, 2}, {1, 0}};
    l.phase = nn::Phase::Train;
  }
  {
    auto& l = add("conv_square", "Convolution", {"conv"}, {"conv_square"});
    l.convolution.num_output = 3;
    l.convolution.kernel_h = l.convolution.kernel_w = 1;
    l.convolution.stride_h = l.convolution.stride_w = 3;
    l.convolution.pad_h = l.convolution.pad_w = 2;
    l.convolution.weight_filler = {"msra", 0, 0, 1, 0, 1, "FAN_OUT"};
  }
  {
    auto& l = add("pool", "Pooling", {"conv"}, {"pool"});
    l.pooling.method = nn::PoolingSpec::Method::Average;
    l.pooling.kernel_h = 2, l.pooling.kernel_w = 3;
    l.pooling.stride_h = 2, l.pooling.stride_w = 2;
    l.pooling.pad_h = 0, l.pooling.pad_w = 1;
  }
  add("gpool", "Pooling", {"pool"}, {"gpool"}).pooling.global_pooling = true;
  add("floor_pool", "Pooling", {"conv"}, {"floor_pool"}).pooling.round_mode = nn::PoolingSpec::RoundMode::Floor;
  add("concat", "Concat", {"pool", "floor_pool"}, {"concat"});
  add("concat_last", "Concat", {"pool", "floor_pool"}, {"concat_last"}).concat.axis = -1;
  add("flat", "Flatten", {"concat"}, {"flat"}).flatten = {2, -2};
  add("reshape", "Reshape", {"concat"}, {"reshaped"}).reshape = {{0, -1, 2}, 1, 2};
  {
    auto& l = add("norm", "LRN", {"pool"}, {"norm"});
    l.lrn = {3, 2e-5f, 0.5f, 2};
  }
  {
    auto& l = add("ip", "InnerProduct", {"norm"}, {"ip"});
    l.inner_product.num_output = 11;
    l.inner_product.bias_term = false;
    l.inner_product.axis = 2;
    l.inner_product.weight_filler = {"gaussian", 0, 0, 1, 0.1f, 0.02f, "FAN_IN"};
    l.inner_product.bias_filler = {"constant", -3.25f, 0, 1, 0, 1, "FAN_IN"};
  }
  add("drop", "Dropout", {"ip"}, {"ip"}).dropout.ratio = 0.3f;
  add("leaky", "ReLU", {"ip"}, {"ip"}).relu.negative_slope = 0.1f;
  add("soft", "Softmax", {"ip"}, {"soft"}).softmax.axis = -1;
  {
    auto& l = add("bn", "BatchNorm", {"conv"}, {"bn"});
    l.batch_norm = {false, 0.9f, 1e-3f};
    l.params = {{0, 0}, {0, 0}, {0, 0}};
  }
  add("bn_default", "BatchNorm", {"conv"}, {"bn2"}).batch_norm.use_global_stats = true;
  {
    auto& l = add("scale", "Scale", {"bn"}, {"bn"});
    l.scale.bias_term = true;
    l.scale.axis = 2;
    l.scale.filler = {"constant", 0.5f, 0, 1, 0, 1, "FAN_IN"};
    l.scale.bias_filler = {"constant", 0.25f, 0, 1, 0, 1, "FAN_IN"};
  }
  add("prod", "Eltwise", {"bn", "bn2"}, {"prod"}).eltwise.operation = nn::EltwiseSpec::Operation::Product;
  add("sum", "Eltwise", {"bn", "bn2"}, {"sum"}).eltwise.coeff = {1, -1};
  add("max", "Eltwise", {"bn", "bn2"}, {"max"}).eltwise.operation = nn::EltwiseSpec::Operation::Max;
  {
    auto& l = add("latent", "Latent", {"ip"}, {"latent"});
    l.latent.num_output = 64;
    l.latent.binarization_weight = 0.1f;
    l.latent.balance_weight = 0.2f;
    l.latent.weight_filler = {"gaussian", 0, 0, 1, 0, 1, "FAN_IN"};  // differs from the Latent default
    l.latent.bias_filler = {"constant", 0.5f, 0, 1, 0, 1, "FAN_IN"};
  }
  add("latent_default", "Latent", {"ip"}, {"latent2"});
  {
    auto& l = add("loss", "SoftmaxWithLoss", {"soft", "aux"}, {"loss"});
    l.loss_weights = {1.5f};
    l.softmax.label_smoothing = 0.2f;
    l.phase = nn::Phase::Test;
  }
  add("data_layer", "ImageData", {}, {"img", "lbl"}).phase = nn::Phase::Train;
  // Parameters of another type's message are kept too: nothing written is lost.
  add("odd", "ReLU", {"ip"}, {"odd"}).dropout.ratio = 0.25f;
  add("silence", "Silence", {"odd"}, {});
  return net;
}

// A net that V1 can express (every type has a V1 enum).
nn::NetSpec v1_net() {
  nn::NetSpec net = parse_caffe_prototxt(kKevinNetV1, "kevin_v1.prototxt");
  return net;
}

nn::WeightBlob blob_of(std::vector<int> shape, float seed) {
  nn::WeightBlob b;
  b.shape = std::move(shape);
  std::size_t n = 1;
  for (int d : b.shape) n *= std::size_t(d);
  for (std::size_t i = 0; i < n; ++i) b.data.push_back(seed + float(i) * 0.25f - float(i % 7) * 1e-3f);
  return b;
}

void check_same_weights(const std::vector<nn::LayerWeights>& got,
                        const std::vector<nn::LayerWeights>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(expected[i].layer);
    CHECK(got[i].layer == expected[i].layer);
    REQUIRE(got[i].blobs.size() == expected[i].blobs.size());
    for (std::size_t j = 0; j < got[i].blobs.size(); ++j) {
      CAPTURE(j);
      CHECK(dump(got[i].blobs[j].shape) == dump(expected[i].blobs[j].shape));
      CHECK(got[i].blobs[j].data == expected[i].blobs[j].data);
    }
  }
}

// Small weights for the layers of everything_net(), including a scalar and an empty blob.
std::vector<nn::LayerWeights> everything_weights() {
  return {
      {"conv", {blob_of({7, 1, 3, 5}, 1), blob_of({}, -2)}},
      {"ip", {blob_of({11, 6}, 0.5f), blob_of({0}, 0)}},
      {"bn", {blob_of({3}, 1), blob_of({3}, 2), blob_of({1}, 999)}},
      {"latent", {blob_of({64, 11}, -1), blob_of({64}, 1)}},
  };
}

std::vector<std::uint8_t> file_bytes(const std::string& path) { return read_file_bytes(path); }

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("protobuf text: every value form, comments, escapes and nesting") {
  const std::string text = R"(# a comment line
name: "a\tb\n\"q\" \\ \101\x42\u00e9" 'single' # adjacent strings concatenate
num: -12  hex: 0x1F
flt: 1.5e-3, flt2: 2.5f; neg_inf: -inf
id: MAX
yes: true
nested { x: 1; y: 2, }
colon_nested: { z: "in" }
angle < w: 4 >
list: [1, 2.5, -3]
msgs: [{a: 1}, <a: 2>]
empty: []
deep { a { b { c: "#not a comment" } } }
)";
  const TextMessage m = parse_text_message(text, "t.prototxt");
  std::vector<std::string> names;
  for (const auto& f : m.fields) names.push_back(f.name);
  CHECK(names == std::vector<std::string>{"name", "num", "hex", "flt", "flt2", "neg_inf", "id", "yes",
                                          "nested", "colon_nested", "angle", "list", "list", "list",
                                          "msgs", "msgs", "deep"});
  const std::string src = "t.prototxt";
  CHECK(m.fields[0].kind == TextValueKind::String);
  CHECK(m.fields[0].scalar == "a\tb\n\"q\" \\ AB\xc3\xa9single");
  CHECK(m.fields[0].position.line == 2);
  CHECK(m.fields[0].position.column == 7);
  CHECK(text_to_integer(m.fields[1], src, -100, 100) == -12);
  CHECK(text_to_integer(m.fields[2], src, 0, 100) == 31);
  CHECK(text_to_float(m.fields[3], src) == 1.5e-3f);
  CHECK(text_to_float(m.fields[4], src) == 2.5f);
  CHECK(std::isinf(text_to_float(m.fields[5], src)));
  CHECK(text_to_float(m.fields[5], src) < 0);
  CHECK(m.fields[6].kind == TextValueKind::Identifier);
  CHECK(m.fields[6].scalar == "MAX");
  CHECK(text_to_bool(m.fields[7], src));
  REQUIRE(m.fields[8].message.fields.size() == 2);
  CHECK(m.fields[8].message.fields[1].name == "y");
  CHECK(m.fields[9].message.fields[0].scalar == "in");
  CHECK(m.fields[10].message.fields[0].scalar == "4");
  CHECK(text_to_float(m.fields[12], src) == 2.5f);
  CHECK(text_to_integer(m.fields[13], src, -5, 5) == -3);
  CHECK(m.fields[15].message.fields[0].scalar == "2");
  CHECK(m.fields[16].message.fields[0].message.fields[0].message.fields[0].scalar == "#not a comment");

  // Conversions name the field and its position when the token does not fit.
  CHECK(test::error_message([&] { text_to_integer(m.fields[3], src, 0, 10); }) ==
        "t.prototxt:4:6: flt: expected an integer, found number '1.5e-3'");
  CHECK(test::error_message([&] { text_to_integer(m.fields[2], src, 0, 10); }) ==
        "t.prototxt:3:16: hex: 0x1F is out of range [0, 10]");
  CHECK(test::error_message([&] { text_to_string(m.fields[6], src); }) ==
        "t.prototxt:5:5: id: expected a quoted string, found identifier 'MAX'");
  CHECK(test::error_message([&] { text_to_float(m.fields[6], src); }).find("expected a number") !=
        std::string::npos);
  CHECK(test::error_message([&] { text_to_bool(m.fields[1], src); }).find("expected true or false") !=
        std::string::npos);
}

TEST_CASE("protobuf text: syntax errors name file:line:column") {
  const auto err = [](const std::string& text) {
    return test::error_message([&] { parse_text_message(text, "bad.prototxt"); });
  };
  CHECK(err("a: {\n  b: 1\n") ==
        "bad.prototxt:3:1: unexpected end of file: missing '}' to close the message opened at line 1, column 4");
  CHECK(err("x: 1\na 5") == "bad.prototxt:2:3: expected ':' or '{' after field name 'a', found number '5'");
  CHECK(err("a: \"unterminated\n") == "bad.prototxt:1:4: unterminated string (a string cannot span lines)");
  CHECK(err("a: \"\\q\"") == "bad.prototxt:1:5: unknown escape sequence '\\q'");
  CHECK(err("a: \"\\400\"") == "bad.prototxt:1:5: octal escape larger than \\377");
  CHECK(err("a: @") == "bad.prototxt:1:4: unexpected character '@'");
  CHECK(err("a { b: 1 >") ==
        "bad.prototxt:1:10: expected '}' to close the message opened at line 1, found '>'");
  CHECK(err("}") == "bad.prototxt:1:1: unmatched '}'");
  CHECK(err("x: 1\n  y: [1 2]") == "bad.prototxt:2:9: expected ',' or ']' in the list of field 'y', found number '2'");
  CHECK(err("a:") == "bad.prototxt:1:3: expected a value for field 'a', found the end of the file");
  CHECK(err("5: 3") == "bad.prototxt:1:1: expected a field name, found number '5'");
  // Hostile nesting is refused long before the stack is at risk.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "a {";
  CHECK(err(deep) == "bad.prototxt:1:303: messages nested deeper than 100 levels");
  std::string ok;
  for (int i = 0; i < 100; ++i) ok += "a {";
  for (int i = 0; i < 100; ++i) ok += "}";
  CHECK(err(ok).empty());
}

TEST_CASE("protobuf text: the writer indents by two and reads back to the same tree") {
  TextMessage inner;
  inner.add_integer("num_output", 96).add_float("std", 0.005f).add_identifier("pool", "MAX");
  TextMessage m;
  m.add_string("name", "q\"uote\\ \x01 é").add_message("layer", TextMessage{}.add_string("name", "c").add_message("convolution_param", inner));
  const std::string text = write_text_message(m);
  CHECK(text ==
        "name: \"q\\\"uote\\\\ \\001 é\"\n"
        "layer {\n"
        "  name: \"c\"\n"
        "  convolution_param {\n"
        "    num_output: 96\n"
        "    std: 0.005\n"
        "    pool: MAX\n"
        "  }\n"
        "}\n");
  const TextMessage back = parse_text_message(text, "w.prototxt");
  CHECK(back.fields[0].scalar == "q\"uote\\ \x01 é");
  CHECK(write_text_message(back) == text);
  // Floats are written in the shortest form that reads back exactly.
  for (float v : {0.1f, 1e-4f, 3.4028235e38f, 1.17549435e-38f, -0.0f, 4096.0f, 0.75f, 1e-45f}) {
    CAPTURE(v);
    const TextMessage one = TextMessage{}.add_float("v", v);
    const TextMessage parsed = parse_text_message(write_text_message(one), "f");
    const float r = text_to_float(parsed.fields[0], "f");
    CHECK(std::memcmp(&r, &v, 4) == 0);
  }
  CHECK(format_float(1e-4f) == "0.0001");
}

TEST_CASE("protobuf wire: varints, fixed-width values, packed and unpacked repeated scalars") {
  WireWriter w;
  w.write_varint_field(1, 300);
  w.write_signed_field(2, -1);
  w.write_float_field(3, 1.5f);
  w.write_double_field(4, -2.25);
  w.write_string_field(5, "hello");
  const std::vector<float> floats{1, 2.5f, -3};
  w.write_packed_floats(6, floats.data(), floats.size());
  w.write_float_field(6, 4);  // the same repeated field, unpacked
  w.write_packed_varints(7, {1, 300, 70000});
  w.write_varint_field(7, 5);
  WireWriter nested;
  nested.write_string_field(1, "inner");
  w.write_message(8, nested);
  w.write_varint_field(kMaxFieldNumber, std::numeric_limits<std::uint64_t>::max());

  const auto& b = w.bytes();
  CHECK(b[0] == 0x08);
  CHECK(b[1] == 0xAC);
  CHECK(b[2] == 0x02);
  CHECK(WireWriter::varint_size(std::uint64_t(-1)) == 10);

  WireReader r(b, "w.bin");
  WireField f;
  REQUIRE(r.next(f));
  CHECK((f.number == 1 && f.type == WireType::Varint && f.value == 300));
  REQUIRE(r.next(f));
  CHECK(std::int64_t(f.value) == -1);
  CHECK(f.offset == 3);
  REQUIRE(r.next(f));
  std::vector<float> got;
  r.append_floats(f, got, "floats");
  CHECK(got == std::vector<float>{1.5f});
  REQUIRE(r.next(f));
  std::vector<double> dgot;
  r.append_doubles(f, dgot, "doubles");
  CHECK(dgot == std::vector<double>{-2.25});
  REQUIRE(r.next(f));
  CHECK(std::string(reinterpret_cast<const char*>(f.data), f.size) == "hello");
  got.clear();
  REQUIRE(r.next(f));
  r.append_floats(f, got, "floats");
  REQUIRE(r.next(f));
  r.append_floats(f, got, "floats");
  CHECK(got == std::vector<float>{1, 2.5f, -3, 4});
  std::vector<std::uint64_t> ints;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(r.next(f));
    r.for_each_varint(f, "ints", [&](std::uint64_t v) { ints.push_back(v); });
  }
  CHECK(ints == std::vector<std::uint64_t>{1, 300, 70000, 5});
  REQUIRE(r.next(f));
  WireReader inner = r.message(f);
  CHECK(inner.depth() == 1);
  WireField g;
  REQUIRE(inner.next(g));
  CHECK(g.data_offset == f.data_offset + 2);
  CHECK(!inner.next(g));
  REQUIRE(r.next(f));
  CHECK(f.number == kMaxFieldNumber);
  CHECK(f.value == std::numeric_limits<std::uint64_t>::max());
  CHECK(!r.next(f));
}

TEST_CASE("protobuf wire: hostile bytes give errors naming the file and offset") {
  const auto err = [](std::vector<std::uint8_t> bytes) {
    return test::error_message([&] {
      WireReader r(bytes, "evil.bin");
      WireField f;
      while (r.next(f)) {
      }
    });
  };
  CHECK(err({0x0a, 0xff}) == "evil.bin (byte offset 1): truncated varint in a length prefix");
  CHECK(err({0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) ==
        "evil.bin (byte offset 1): varint in a length prefix is longer than 10 bytes");
  CHECK(err({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}).empty());  // 2^64-1
  CHECK(err({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}) ==
        "evil.bin (byte offset 1): varint in a varint field overflows 64 bits");
  CHECK(err({0x0a, 0x05, 'a', 'b'}) == "evil.bin (byte offset 0): field 1 declares 5 bytes but only 2 are left");
  // 2^60 bytes: refused from the length alone, nothing is allocated.
  CHECK(err({0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10}) ==
        "evil.bin (byte offset 0): field 1 declares 1152921504606846976 bytes but only 0 are left");
  CHECK(err({0x0b, 0x0c}) ==
        "evil.bin (byte offset 0): field 1 is a group (wire type 3); groups are deprecated and not supported");
  CHECK(err({0x0e}) == "evil.bin (byte offset 0): field 1 has invalid wire type 6");
  CHECK(err({0x02, 0x00}).find("invalid field number 0") != std::string::npos);
  CHECK(err({0x0d, 1, 2}) == "evil.bin (byte offset 1): truncated a fixed32 field: needs 4 bytes, only 2 left");
  CHECK(err({0x09, 1, 2, 3, 4, 5, 6, 7}) == "evil.bin (byte offset 1): truncated a fixed64 field: needs 8 bytes, only 7 left");

  // Packed floats whose size is not a multiple of 4.
  WireWriter w;
  w.write_bytes_field(5, "abc", 3);
  CHECK(test::error_message([&] {
          WireReader r(w.bytes(), "evil.bin");
          WireField f;
          r.next(f);
          std::vector<float> out;
          r.append_floats(f, out, "blob data");
        }) == "evil.bin (byte offset 0): packed blob data has 3 bytes, not a multiple of 4");

  // Messages nested 200 deep: a recursive walker is stopped at the limit.
  std::vector<std::uint8_t> deep;
  for (int i = 0; i < 200; ++i) {
    WireWriter outer;
    outer.write_bytes_field(1, deep.data(), deep.size());
    deep = outer.bytes();
  }
  std::function<void(WireReader&)> walk = [&](WireReader& r) {
    WireField f;
    while (r.next(f)) {
      WireReader inner = r.message(f);
      walk(inner);
    }
  };
  const std::string deep_error = test::error_message([&] {
    WireReader r(deep, "deep.bin");
    walk(r);
  });
  CHECK(deep_error.rfind("deep.bin (byte offset ", 0) == 0);
  CHECK(deep_error.find("): messages nested deeper than 100 levels") != std::string::npos);
}

TEST_CASE("KevinNet prototxt: the V1 and the current forms give the same NetSpec") {
  const nn::NetSpec v1 = parse_caffe_prototxt(kKevinNetV1, "kevin_v1.prototxt");
  const nn::NetSpec current = parse_caffe_prototxt(kKevinNetCurrent, "kevin.prototxt");
  CHECK(dump(v1) == dump(current));

  CHECK(v1.name == "KevinNet_CIFAR10_48");
  CHECK(v1.inputs == std::vector<std::string>{"data", "label"});
  CHECK(v1.input_shapes == std::vector<std::vector<int>>{{10, 3, 227, 227}, {10, 1, 1, 1}});
  REQUIRE(v1.layers.size() == 26);
  const auto& conv1 = layer_named(v1, "conv1");
  CHECK(conv1.type == "Convolution");
  CHECK((conv1.convolution.num_output == 96 && conv1.convolution.kernel_h == 11 &&
         conv1.convolution.kernel_w == 11 && conv1.convolution.stride_h == 4 && conv1.convolution.stride_w == 4));
  CHECK(conv1.convolution.weight_filler.type == "gaussian");
  CHECK(conv1.convolution.weight_filler.std == 0.01f);
  REQUIRE(conv1.params.size() == 2);
  CHECK((conv1.params[1].lr_mult == 2 && conv1.params[1].decay_mult == 0 && conv1.params[0].decay_mult == 1));
  const auto& conv2 = layer_named(v1, "conv2");
  CHECK((conv2.convolution.group == 2 && conv2.convolution.pad_h == 2 && conv2.convolution.pad_w == 2 &&
         conv2.convolution.kernel_h == 5 && conv2.convolution.bias_filler.value == 1));
  CHECK(layer_named(v1, "conv4").convolution.group == 2);
  CHECK(layer_named(v1, "conv5").convolution.num_output == 256);
  const auto& pool1 = layer_named(v1, "pool1");
  CHECK((pool1.type == "Pooling" && pool1.pooling.method == nn::PoolingSpec::Method::Max &&
         pool1.pooling.kernel_h == 3 && pool1.pooling.stride_w == 2));
  const auto& norm1 = layer_named(v1, "norm1");
  CHECK((norm1.type == "LRN" && norm1.lrn.local_size == 5 && norm1.lrn.alpha == 0.0001f &&
         norm1.lrn.beta == 0.75f && norm1.lrn.k == 1));
  CHECK(layer_named(v1, "fc6").inner_product.num_output == 4096);
  CHECK(layer_named(v1, "drop6").dropout.ratio == 0.5f);
  const auto& kevin = layer_named(v1, "fc8_kevin");
  CHECK((kevin.type == "InnerProduct" && kevin.inner_product.num_output == 48 &&
         kevin.inner_product.weight_filler.std == 0.005f && kevin.inner_product.bias_filler.type == "constant" &&
         kevin.inner_product.bias_filler.value == 1));
  CHECK(layer_named(v1, "fc8_kevin_encode").type == "Sigmoid");
  const auto& classifier = layer_named(v1, "fc8_pascal");
  CHECK((classifier.params[0].lr_mult == 10 && classifier.params[1].lr_mult == 20));
  const auto& loss = layer_named(v1, "loss");
  CHECK(loss.type == "SoftmaxWithLoss");
  CHECK(loss.bottoms == std::vector<std::string>{"fc8_pascal", "label"});
  CHECK(layer_named(v1, "accuracy").phase == nn::Phase::Test);
  CHECK(!layer_named(v1, "relu1").phase);

  // Written (in either form) and read again, the net is unchanged.
  CHECK(dump(parse_caffe_prototxt(write_caffe_prototxt(v1), "w")) == dump(v1));
  CHECK(dump(parse_caffe_prototxt(write_caffe_prototxt(v1, CaffeFormat::V1), "w")) == dump(v1));
  CHECK(write_caffe_prototxt(v1).find("layer {\n  name: \"conv1\"\n  type: \"Convolution\"\n") != std::string::npos);
  CHECK(write_caffe_prototxt(v1, CaffeFormat::V1).find("  type: CONVOLUTION\n") != std::string::npos);

  // From a file.
  TempDir dir;
  write_text_file(dir.file("kevin.prototxt"), kKevinNetCurrent);
  CHECK(dump(read_caffe_prototxt(dir.file("kevin.prototxt"))) == dump(v1));
  save_caffe_prototxt(dir.file("saved.prototxt"), v1);
  CHECK(dump(read_caffe_prototxt(dir.file("saved.prototxt"))) == dump(v1));
  CHECK(test::error_message([&] { read_caffe_prototxt(dir.file("missing.prototxt")); }) ==
        dir.file("missing.prototxt") + ": cannot open file for reading");
}

TEST_CASE("every V1 layer type maps to its current type string") {
  for (const auto& t : caffe::v1_layer_types()) {
    if (t.number == 0) continue;
    CAPTURE(t.enum_name);
    const nn::NetSpec byname = parse_caffe_prototxt("layers { name: \"l\" type: " + std::string(t.enum_name) + " }", "t");
    const nn::NetSpec bynumber = parse_caffe_prototxt("layers { name: \"l\" type: " + std::to_string(t.number) + " }", "t");
    CHECK(byname.layers[0].type == t.type);
    CHECK(bynumber.layers[0].type == t.type);
  }
  CHECK(caffe::v1_layer_types().size() == 40);
  CHECK(test::error_message([] { parse_caffe_prototxt("layers { name: \"l\" type: NONE }", "t.prototxt"); }) ==
        "t.prototxt:1:26: type: layer type NONE");
  CHECK(test::error_message([] { parse_caffe_prototxt("layers {\n type: BOGUS }", "t.prototxt"); })
            .find("t.prototxt:2:8: type: unknown value identifier 'BOGUS'; expected one of NONE, ABSVAL,") == 0);
}

TEST_CASE("V0 nets are refused with a clear message") {
  const char* v0 = R"(name: "LeNet"
layers {
  layer {
    name: "conv1"
    type: "conv"
    num_output: 20
  }
  bottom: "data"
  top: "conv1"
})";
  const std::string e = test::error_message([&] { parse_caffe_prototxt(v0, "lenet_v0.prototxt"); });
  CHECK(e.find("lenet_v0.prototxt:3:3: layer: this is a V0 net") == 0);
  CHECK(e.find("not support") != std::string::npos);
}

TEST_CASE("prototxt: spellings of kernel, stride and pad; phases; unknown fields ignored") {
  const auto conv = [](const std::string& body) {
    return parse_caffe_prototxt("layer { name: \"c\" type: \"Convolution\" convolution_param { " + body + " } }", "c.prototxt")
        .layers[0]
        .convolution;
  };
  auto c = conv("kernel_size: 3 kernel_size: 5 stride: [2, 1] pad_h: 1 dilation: 2 dilation: 2");
  CHECK((c.kernel_h == 3 && c.kernel_w == 5 && c.stride_h == 2 && c.stride_w == 1 && c.pad_h == 1 &&
         c.pad_w == 0 && c.dilation == 2));
  c = conv("kernel_h: 3 kernel_w: 5 stride_h: 2 stride_w: 3 pad: 4");
  CHECK((c.kernel_h == 3 && c.kernel_w == 5 && c.stride_h == 2 && c.stride_w == 3 && c.pad_h == 4 && c.pad_w == 4));
  const auto err = [](const std::string& text) { return test::error_message([&] { parse_caffe_prototxt(text, "e.prototxt"); }); };
  CHECK(err("layer { type: \"Convolution\" convolution_param { kernel_size: 3 kernel_h: 3 kernel_w: 3 } }") ==
        "e.prototxt:1:62: kernel_size: give kernel_size or kernel_h/kernel_w, not both");
  CHECK(err("layer { type: \"Convolution\" convolution_param { kernel_h: 3 } }") ==
        "e.prototxt:1:59: kernel_h: kernel_h and kernel_w must be given together");
  CHECK(err("layer { type: \"Convolution\" convolution_param { kernel_size: [3, 3, 3] } }") ==
        "e.prototxt:1:63: kernel_size: kernel_size has 3 values; only 2-D is supported (one value, or height and width)");
  CHECK(err("layer { type: \"Convolution\" convolution_param { dilation: [1, 2] } }").find("different dilations") !=
        std::string::npos);

  const nn::NetSpec net = parse_caffe_prototxt(R"(
    force_backward: true
    state { phase: TEST }
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN }
            data_param { source: "train_lmdb" batch_size: 256 backend: LMDB }
            transform_param { mirror: true crop_size: 227 mean_file: "mean.binaryproto" } }
    layer { name: "t" type: "Data" top: "data" include { phase: TEST stage: "val" } }
    layer { name: "e" type: "Split" exclude { phase: TEST } }
    layer { name: "s" type: "Silence" bottom: "label" include { stage: "x" } }
    layer { name: "i" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } shape { dim: 5 } } }
    layer { name: "x" type: "SomethingNew" future_param { whatever: [1, 2] nested { deeper: ENUM } } }
  )", "p.prototxt");
  REQUIRE(net.layers.size() == 6);
  CHECK(net.layers[0].phase == nn::Phase::Train);
  CHECK(net.layers[0].tops == std::vector<std::string>{"data", "label"});
  CHECK(net.layers[1].phase == nn::Phase::Test);
  CHECK(net.layers[2].phase == nn::Phase::Train);
  CHECK(!net.layers[3].phase);
  CHECK(net.layers[4].input.shapes == std::vector<std::vector<int>>{{1, 3}, {5}});
  CHECK(net.layers[5].type == "SomethingNew");
}

TEST_CASE("prototxt: malformed known fields and unsupported settings are errors naming file:line") {
  const auto err = [](const std::string& text) { return test::error_message([&] { parse_caffe_prototxt(text, "net.prototxt"); }); };
  CHECK(err("layer {\n  name: \"fc\"\n  type: \"InnerProduct\"\n  inner_product_param { num_output: abc }\n}") ==
        "net.prototxt:4:37: num_output: expected an integer, found identifier 'abc'");
  CHECK(err("layer { type: \"InnerProduct\" inner_product_param { num_output: -3 } }") ==
        "net.prototxt:1:64: num_output: -3 is out of range [0, 2147483647]");
  CHECK(err("layer { type: \"InnerProduct\" inner_product_param { num_output: 1.5 } }") ==
        "net.prototxt:1:64: num_output: expected an integer, found number '1.5'");
  CHECK(err("layer { type: \"Pooling\" pooling_param { pool: STOCHASTIC } }") ==
        "net.prototxt:1:47: pool: STOCHASTIC pooling is not supported (only MAX and AVE)");
  CHECK(err("layer { type: \"LRN\" lrn_param {\n norm_region: WITHIN_CHANNEL } }") ==
        "net.prototxt:2:15: norm_region: WITHIN_CHANNEL normalisation is not supported (only ACROSS_CHANNELS)");
  CHECK(err("layer { type: \"InnerProduct\" inner_product_param { transpose: true } }").find("transpose") !=
        std::string::npos);
  CHECK(err("layer { name: conv1 type: \"ReLU\" }") ==
        "net.prototxt:1:15: name: expected a quoted string, found identifier 'conv1'");
  CHECK(err("layer { name: \"c\" type: CONVOLUTION }").find("net.prototxt:1:25: type: a `layer` takes a quoted type string") == 0);
  CHECK(err("layers { name: \"c\" type: \"Convolution\" }").find("net.prototxt:1:26: type: a V1 `layers` entry takes an enum type") == 0);
  CHECK(err("layer { name: \"c\" }") == "net.prototxt:1:1: layer: layer 'c' has no type");
  CHECK(err("layer { type: \"ReLU\" relu_param { negative_slope: x } }").find("expected a number") != std::string::npos);
  CHECK(err("layer { type: \"ReLU\" param { lr_mult: \"1\" } }").find("lr_mult: expected a number, found string") != std::string::npos);
  CHECK(err("input: \"data\"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 4") ==
        "net.prototxt:2:12: input_dim: expected 4 input_dim values per input (1 inputs), found 3");
  CHECK(err("input: \"a\" input_shape { dim: 1 } input_shape { dim: 2 }").find("expected one input_shape per input") !=
        std::string::npos);
  CHECK(err("layer { type: \"Pooling\" pooling_param { pool: 7 } }").find("unknown value number '7'") != std::string::npos);
  CHECK(err("layer { type: \"Dropout\" include { phase: TRAIN } exclude { phase: TEST } }").find("not both") != std::string::npos);
  CHECK(err("layer { type: \"Data\" include { phase: VALIDATION } }").find("expected one of TRAIN, TEST") != std::string::npos);
}

TEST_CASE("prototxt: write -> parse keeps every field of NetSpec") {
  const nn::NetSpec net = everything_net();
  const std::string text = write_caffe_prototxt(net);
  const nn::NetSpec back = parse_caffe_prototxt(text, "everything.prototxt");
  CHECK(dump(back) == dump(net));
  CHECK(write_caffe_prototxt(back) == text);
  // Defaults are left out, as in Caffe's own files; non-square settings use the _h/_w pair.
  CHECK(text.find("    kernel_h: 3\n    kernel_w: 5\n") != std::string::npos);
  CHECK(text.find("dropout_ratio: 0.5") == std::string::npos);
  CHECK(text.find("latent_param {\n    num_output: 64\n") != std::string::npos);

  // V1 has no enum for Latent, BatchNorm, ...: writing such a net in V1 is refused, by name.
  CHECK(test::error_message([&] { write_caffe_prototxt(net, CaffeFormat::V1); }) ==
        "write_caffe_prototxt: layer 'extra': type 'Input' has no V1 LayerType; write the net in the current format");
  nn::NetSpec bad = net;
  bad.input_shapes.pop_back();
  CHECK(test::error_message([&] { write_caffe_prototxt(bad); }).find("2 inputs but 1 input shapes") != std::string::npos);
}

// The forms the model zoo's ImageNet deploy files use (BVLC GoogLeNet in its four versions,
// SqueezeNet v1.0 and v1.1, ResNet-50): an Input layer whose shape is written `shape: { ... }`,
// net-level input with input_dim or input_shape, tabs, Concat with no parameters, `engine`
// fields, global average pooling, V1's CONCAT and FLATTEN.
TEST_CASE("prototxt: the model zoo's forms of Concat, Flatten, Reshape and pooling") {
  const nn::NetSpec current = parse_caffe_prototxt(R"(
name: "zoo"
layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 10 dim: 3 dim: 224 dim: 224 } } }
layer {
	name: "pool"	type: "Pooling"	bottom: "data"	top: "pool"
	pooling_param { pool: MAX kernel_size: 3 stride: 2 engine: CAFFE round_mode: FLOOR }
}
layer { name: "cat" type: "Concat" bottom: "pool" bottom: "pool" top: "cat" }
layer { name: "cat0" type: "Concat" bottom: "pool" bottom: "pool" top: "cat0" concat_param { axis: -4 } }
layer { name: "cat_dim" type: "Concat" bottom: "pool" bottom: "pool" top: "cat_dim" concat_param { concat_dim: 2 } }
layer { name: "gap" type: "Pooling" bottom: "cat" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "flat" type: "Flatten" bottom: "gap" top: "flat" flatten_param { axis: 1 end_axis: -1 } }
layer { name: "shape" type: "Reshape" bottom: "gap" top: "shape" reshape_param { shape { dim: 0 dim: -1 } } }
layer { name: "prob" type: "Softmax" bottom: "flat" top: "prob" softmax_param { engine: CUDNN } }
)", "zoo.prototxt");
  REQUIRE(current.layers.size() == 9);
  CHECK(current.layers[0].input.shapes == std::vector<std::vector<int>>{{10, 3, 224, 224}});
  CHECK(current.layers[1].pooling.round_mode == nn::PoolingSpec::RoundMode::Floor);
  CHECK(current.layers[2].concat.axis == 1);
  CHECK(current.layers[3].concat.axis == -4);
  CHECK(current.layers[4].concat.axis == 2);
  CHECK(current.layers[5].pooling.global_pooling);
  CHECK((current.layers[6].flatten.axis == 1 && current.layers[6].flatten.end_axis == -1));
  CHECK(current.layers[7].reshape.shape == std::vector<int>{0, -1});

  const nn::NetSpec v1 = parse_caffe_prototxt(R"(
name: "zoo_v1"
input: "data"
input_dim: 10 input_dim: 3 input_dim: 224 input_dim: 224
layers { bottom: "data" bottom: "data" top: "cat" name: "cat" type: CONCAT }
layers { bottom: "data" bottom: "data" top: "cat2" name: "cat2" type: CONCAT concat_param { concat_dim: 2 } }
layers { bottom: "cat" top: "flat" name: "flat" type: FLATTEN }
)", "zoo_v1.prototxt");
  REQUIRE(v1.layers.size() == 3);
  CHECK(v1.input_shapes == std::vector<std::vector<int>>{{10, 3, 224, 224}});
  CHECK((v1.layers[0].type == "Concat" && v1.layers[0].concat.axis == 1));
  CHECK((v1.layers[1].type == "Concat" && v1.layers[1].concat.axis == 2));
  CHECK(v1.layers[2].type == "Flatten");
  // Written as V1 again: the axis as concat_dim (V1-era readers know no other), same net back.
  const std::string text = write_caffe_prototxt(v1, CaffeFormat::V1);
  CHECK(text.find("  top: \"cat2\"\n  concat_param {\n    concat_dim: 2\n  }") != std::string::npos);
  CHECK(text.find("type: FLATTEN") != std::string::npos);
  CHECK(text.find("pooling_param") == std::string::npos);  // only Pooling layers carry it
  CHECK(dump(parse_caffe_prototxt(text, "v1_again")) == dump(v1));
  // What V1 cannot say is refused by name: a negative axis goes as `axis`, which it does know
  // through ConcatParameter; Flatten's axes and Reshape are not in V1 at all.
  nn::NetSpec v1_negative = v1;
  v1_negative.layers[1].concat.axis = -2;
  CHECK(write_caffe_prototxt(v1_negative, CaffeFormat::V1).find("concat_param {\n    axis: -2\n  }") != std::string::npos);
  CHECK(test::error_message([&] { write_caffe_prototxt(current, CaffeFormat::V1); })
            .find("layer 'data': type 'Input' has no V1 LayerType") != std::string::npos);
  nn::NetSpec flatten_axes = v1;
  flatten_axes.layers[2].flatten.axis = 2;
  CHECK(test::error_message([&] { write_caffe_prototxt(flatten_axes, CaffeFormat::V1); }) ==
        "write_caffe_prototxt: layer 'flat': V1 layers have no flatten_param; write the net in the current format");
  nn::NetSpec reshape = v1;
  reshape.layers[2].type = "Reshape";
  CHECK(test::error_message([&] { write_caffe_prototxt(reshape, CaffeFormat::V1); }) ==
        "write_caffe_prototxt: layer 'flat': type 'Reshape' has no V1 LayerType; write the net in the current format");

  const auto err = [](const std::string& text) { return test::error_message([&] { parse_caffe_prototxt(text, "e.prototxt"); }); };
  CHECK(err("layer { type: \"Concat\" concat_param { axis: 1 concat_dim: 1 } }") ==
        "e.prototxt:1:59: concat_dim: give axis or concat_dim, not both (as Caffe requires)");
  CHECK(err("layer { type: \"Concat\" concat_param { concat_dim: -1 } }") ==
        "e.prototxt:1:51: concat_dim: -1 is out of range [0, 2147483647]");
  CHECK(err("layer { type: \"Pooling\" pooling_param { round_mode: UP } }").find("expected one of CEIL, FLOOR") !=
        std::string::npos);
}

DEEPHASH_OPTIONAL_TEST_CASE("caffemodel: fixtures encoded by protoc read value by value") {
  test::skip_unless(have_protoc(), "protoc not found (install protobuf-compiler)");
  TempDir dir;
  // Current layers: BlobShape dims and packed floats; legacy dims with packed double_data;
  // fields deephash does not read (transform_param, phase, diff, force_backward) in between.
  const char* current = R"(
name: "fixture_current"
force_backward: true
input: "data"
input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }
layer {
  name: "conv" type: "Convolution" bottom: "data" top: "conv"
  phase: TEST
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 2 kernel_size: 2 engine: CUDNN weight_filler { type: "xavier" sparse: 3 } }
  blobs { shape { dim: 2 dim: 2 dim: 2 dim: 2 }
          data: [0, 0.25, -0.5, 1e-7, 3.4028235e38, -1.17549435e-38, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
          diff: [1, 2, 3] }
  blobs { num: 1 channels: 1 height: 1 width: 2 double_data: [0.1, -2.5] }
  transform_param { scale: 0.5 mean_value: 104 }
}
layer {
  name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  inner_product_param { num_output: 3 bias_term: true }
  blobs { shape { dim: 3 dim: 8 } data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                         17, 18, 19, 20, 21, 22, 23, 24] }
  blobs { shape { dim: 3 } data: [-1, -2, -3] }
}
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
)";
  // V1 layers: legacy 4-D dims with unpacked floats; unpacked BlobShape dims with unpacked doubles.
  const char* v1 = R"(
name: "fixture_v1"
input: "data"
input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3
layers {
  name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
  convolution_param { num_output: 2 kernel_size: 2 }
  blobs { num: 2 channels: 2 height: 2 width: 2
          data: [0, 0.25, -0.5, 1e-7, 3.4028235e38, -1.17549435e-38, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] }
  blobs { shape { dim: 2 } double_data: [0.5, -0.25] }
}
layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
layers {
  name: "ip" type: INNER_PRODUCT bottom: "conv" top: "ip"
  inner_product_param { num_output: 3 }
  blobs { num: 1 channels: 1 height: 3 width: 8 data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                       17, 18, 19, 20, 21, 22, 23, 24] }
  blobs { num: 1 channels: 1 height: 1 width: 3 data: [-1, -2, -3] }
}
)";
  const std::vector<float> conv_values{0, 0.25f, -0.5f, 1e-7f, 3.4028235e38f, -1.17549435e-38f, 7, 8,
                                       9, 10, 11, 12, 13, 14, 15, 16};
  std::vector<float> ip_values;
  for (int i = 1; i <= 24; ++i) ip_values.push_back(float(i));

  write_text_file(dir.file("current.txt"), current);
  write_text_file(dir.file("v1.txt"), v1);
  REQUIRE(protoc("encode", dir.file("current.txt"), dir.file("current.caffemodel")));
  REQUIRE(protoc("encode", dir.file("v1.txt"), dir.file("v1.caffemodel")));

  const CaffeModel a = read_caffemodel(dir.file("current.caffemodel"));
  CHECK(a.net.name == "fixture_current");
  CHECK(a.net.input_shapes == std::vector<std::vector<int>>{{1, 2, 3, 3}});
  REQUIRE(a.net.layers.size() == 3);
  CHECK(a.net.layers[0].convolution.num_output == 2);
  CHECK(a.net.layers[0].convolution.weight_filler.type == "xavier");
  CHECK(a.net.layers[0].params[1].decay_mult == 0);
  CHECK(a.net.layers[2].type == "Softmax");
  check_same_weights(a.weights, {{"conv", {{{2, 2, 2, 2}, conv_values}, {{1, 1, 1, 2}, {0.1f, -2.5f}}}},
                                 {"ip", {{{3, 8}, ip_values}, {{3}, {-1, -2, -3}}}}});

  const CaffeModel b = read_caffemodel(dir.file("v1.caffemodel"));
  CHECK(b.net.name == "fixture_v1");
  CHECK(b.net.input_shapes == std::vector<std::vector<int>>{{1, 2, 3, 3}});
  REQUIRE(b.net.layers.size() == 3);
  CHECK(b.net.layers[0].type == "Convolution");
  CHECK(b.net.layers[0].params[1].lr_mult == 2);
  CHECK(b.net.layers[1].type == "ReLU");
  CHECK(b.net.layers[2].inner_product.num_output == 3);
  check_same_weights(b.weights, {{"conv", {{{2, 2, 2, 2}, conv_values}, {{2}, {0.5f, -0.25f}}}},
                                 {"ip", {{{1, 1, 3, 8}, ip_values}, {{1, 1, 1, 3}, {-1, -2, -3}}}}});

  // A blob whose data does not fill its shape.
  write_text_file(dir.file("short.txt"), R"(layer { name: "ip" type: "InnerProduct"
      blobs { shape { dim: 3 dim: 2 } data: [1, 2, 3, 4, 5] } })");
  REQUIRE(protoc("encode", dir.file("short.txt"), dir.file("short.caffemodel")));
  const std::string e = test::error_message([&] { read_caffemodel(dir.file("short.caffemodel")); });
  CHECK(e.find(dir.file("short.caffemodel") + " (byte offset ") == 0);
  CHECK(e.find("layer 'ip' blob 0: shape 3x2 holds 6 values but the blob stores 5") != std::string::npos);

  // A V0 caffemodel is refused as a V0 prototxt is.
  write_text_file(dir.file("v0.txt"), R"(layers { layer { name: "conv1" type: "conv" num_output: 20 } })");
  REQUIRE(protoc("encode", dir.file("v0.txt"), dir.file("v0.caffemodel")));
  CHECK(test::error_message([&] { read_caffemodel(dir.file("v0.caffemodel")); })
            .find(dir.file("v0.caffemodel") + " (byte offset 2): layer: this is a V0 net") == 0);
}

TEST_CASE("caffemodel: write -> read round trips, current and V1 formats") {
  TempDir dir;
  {
    const nn::NetSpec net = everything_net();
    const auto weights = everything_weights();
    write_caffemodel(dir.file("all.caffemodel"), net, weights, CaffeFormat::Current);
    const CaffeModel m = read_caffemodel(dir.file("all.caffemodel"));
    CHECK(dump(m.net) == dump(net));
    check_same_weights(m.weights, weights);
  }
  {
    const nn::NetSpec net = v1_net();
    const std::vector<nn::LayerWeights> weights{
        {"conv1", {blob_of({96, 3, 11, 11}, 0.5f), blob_of({96}, -1)}},
        {"fc8_kevin", {blob_of({48, 40}, 2), blob_of({48}, 0)}},
        {"fc8_pascal", {blob_of({10, 48}, 3), blob_of({10}, 1)}},
    };
    write_caffemodel(dir.file("v1.caffemodel"), net, weights, CaffeFormat::V1);
    const CaffeModel m = read_caffemodel(dir.file("v1.caffemodel"));
    CHECK(dump(m.net) == dump(net));
    // V1 blobs are 4-D: lower ranks come back padded with leading 1s, as Caffe stored them.
    std::vector<nn::LayerWeights> expected = weights;
    expected[0].blobs[1].shape = {1, 1, 1, 96};
    expected[1].blobs[0].shape = {1, 1, 48, 40};
    expected[1].blobs[1].shape = {1, 1, 1, 48};
    expected[2].blobs[0].shape = {1, 1, 10, 48};
    expected[2].blobs[1].shape = {1, 1, 1, 10};
    check_same_weights(m.weights, expected);

    write_caffemodel(dir.file("v1_as_current.caffemodel"), net, weights, CaffeFormat::Current);
    const CaffeModel c = read_caffemodel(dir.file("v1_as_current.caffemodel"));
    CHECK(dump(c.net) == dump(net));
    check_same_weights(c.weights, weights);
  }
  // Bad calls are refused before anything is written.
  const nn::NetSpec net = v1_net();
  const std::string path = dir.file("bad.caffemodel");
  CHECK(test::error_message([&] { write_caffemodel(path, net, {{"nope", {}}}, CaffeFormat::Current); }) ==
        path + ": weights are given for layer 'nope', which the net does not have");
  CHECK(test::error_message([&] { write_caffemodel(path, net, {{"conv1", {}}, {"conv1", {}}}, CaffeFormat::Current); }) ==
        path + ": weights for layer 'conv1' are given twice");
  CHECK(test::error_message([&] {
          write_caffemodel(path, net, {{"conv1", {{{2, 3}, {1, 2, 3}}}}}, CaffeFormat::Current);
        }) == path + ": layer 'conv1' blob 0: its shape holds 6 values but it has 3");
  CHECK(test::error_message([&] {
          write_caffemodel(path, net, {{"conv1", {blob_of({1, 1, 1, 1, 2}, 0)}}}, CaffeFormat::V1);
        }) == path + ": layer 'conv1' blob 0 has 5 dimensions; the V1 format stores at most 4");
  CHECK(test::error_message([&] { write_caffemodel(path, everything_net(), {}, CaffeFormat::V1); })
            .find("has no V1 LayerType") != std::string::npos);
  CHECK(!fs::exists(path));
}

DEEPHASH_OPTIONAL_TEST_CASE("caffemodel: protoc decodes what write_caffemodel writes") {
  test::skip_unless(have_protoc(), "protoc not found (install protobuf-compiler)");
  TempDir dir;
  for (CaffeFormat format : {CaffeFormat::Current, CaffeFormat::V1}) {
    const bool v1 = format == CaffeFormat::V1;
    CAPTURE(v1);
    const nn::NetSpec net = v1 ? v1_net() : everything_net();
    const std::vector<nn::LayerWeights> weights =
        v1 ? std::vector<nn::LayerWeights>{{"fc8_kevin", {blob_of({48, 5}, 0.5f), blob_of({48}, -0.125f)}}}
           : everything_weights();
    const std::string model = dir.file(v1 ? "v1.caffemodel" : "current.caffemodel");
    write_caffemodel(model, net, weights, format);
    REQUIRE(protoc("decode", model, model + ".txt"));
    const std::string text = read_text_file(model + ".txt");
    if (v1) {
      CHECK(text.find("layers {\n  bottom: \"data\"\n  top: \"conv1\"\n  name: \"conv1\"\n  type: CONVOLUTION\n") != std::string::npos);
      CHECK(text.find("blobs_lr: 2") != std::string::npos);
      CHECK(text.find("input_dim: 227") != std::string::npos);
      CHECK(text.find("num: 1\n    channels: 1\n    height: 48\n    width: 5\n") != std::string::npos);
      CHECK(text.find("layer {") == std::string::npos);
    } else {
      CHECK(text.find("layer {\n  name: \"conv\"\n  type: \"Convolution\"\n") != std::string::npos);
      CHECK(text.find("shape {\n      dim: 7\n      dim: 1\n      dim: 3\n      dim: 5\n    }") != std::string::npos);
      CHECK(text.find("variance_norm: AVERAGE") != std::string::npos);
      CHECK(text.find("latent_param {\n    num_output: 64") != std::string::npos);
      CHECK(text.find("input_shape {\n  dim: 2\n  dim: 5\n}") != std::string::npos);
      CHECK(text.find("layers {") == std::string::npos);
    }
    // protoc's text, read back by our prototxt reader, is the same net; its blob values are ours.
    CHECK(dump(parse_caffe_prototxt(text, model + ".txt")) == dump(net));
    const TextMessage tree = parse_text_message(text, model + ".txt");
    std::vector<nn::LayerWeights> from_text;
    for (const TextField& layer : tree.fields) {
      if (layer.name != "layer" && layer.name != "layers") continue;
      nn::LayerWeights lw;
      for (const TextField& f : layer.message.fields) {
        if (f.name == "name") lw.layer = f.scalar;
        if (f.name != "blobs") continue;
        nn::WeightBlob blob;
        std::vector<int> legacy;
        for (const TextField& g : f.message.fields) {
          if (g.name == "data") blob.data.push_back(text_to_float(g, "t"));
          if (g.name == "shape")
            for (const TextField& d : g.message.fields) blob.shape.push_back(int(text_to_integer(d, "t", 0, 1 << 30)));
          if (g.name == "num" || g.name == "channels" || g.name == "height" || g.name == "width")
            legacy.push_back(int(text_to_integer(g, "t", 0, 1 << 30)));
        }
        if (!legacy.empty()) blob.shape = legacy;
        lw.blobs.push_back(blob);
      }
      if (!lw.blobs.empty()) from_text.push_back(lw);
    }
    if (v1)
      check_same_weights(from_text, {{"fc8_kevin", {{{1, 1, 48, 5}, weights[0].blobs[0].data},
                                                    {{1, 1, 1, 48}, weights[0].blobs[1].data}}}});
    else
      check_same_weights(from_text, weights);
  }
}

TEST_CASE("caffemodel: corrupt and hostile files give errors naming the file, never a crash") {
  TempDir dir;
  const std::string path = dir.file("small.caffemodel");
  write_caffemodel(path, everything_net(), everything_weights(), CaffeFormat::Current);
  const std::vector<std::uint8_t> good = file_bytes(path);
  REQUIRE(good.size() > 1000);
  const std::string name = "hostile.caffemodel";

  // Every truncation either reads (a cut between layers leaves a shorter, valid net) or fails
  // with an Error naming the file; anything else escapes the CHECK and fails the test.
  std::size_t errors = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::vector<std::uint8_t> cut(good.begin(), good.begin() + std::ptrdiff_t(n));
    try {
      parse_caffemodel(cut.data(), cut.size(), name);
    } catch (const Error& e) {
      ++errors;
      if (std::string(e.what()).rfind(name, 0) != 0) CHECK(std::string(e.what()) == name + "...");
    }
  }
  CHECK(errors > good.size() * 9 / 10);

  // Random corruption: the same contract.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::uint8_t> bad = good;
    const int flips = 1 + int(rng() % 4);
    for (int i = 0; i < flips; ++i) bad[rng() % bad.size()] = std::uint8_t(rng());
    try {
      parse_caffemodel(bad.data(), bad.size(), name);
    } catch (const Error& e) {
      if (std::string(e.what()).rfind(name, 0) != 0) CHECK(std::string(e.what()) == name + "...");
    }
  }

  const auto err = [&](const WireWriter& w) {
    return test::error_message([&] { parse_caffemodel(w.bytes().data(), w.size(), name); });
  };
  // Absurd length (2^60) on a layer: refused from the prefix, nothing allocated.
  WireWriter absurd;
  absurd.write_tag(caffe::kNetLayerField, WireType::LengthDelimited);
  absurd.write_varint(std::uint64_t(1) << 60);
  CHECK(err(absurd) == name + " (byte offset 0): field 100 declares 1152921504606846976 bytes but only 0 are left");
  // A bad varint.
  WireWriter overlong;
  overlong.write_tag(1, WireType::LengthDelimited);
  for (int i = 0; i < 11; ++i) overlong.bytes().push_back(0xff);
  CHECK(err(overlong) == name + " (byte offset 1): varint in a length prefix is longer than 10 bytes");
  // Wrong wire type for known fields: the layer list, and num_output inside a layer.
  WireWriter wrong;
  wrong.write_varint_field(caffe::kNetLayerField, 1);
  CHECK(err(wrong) == name + " (byte offset 0): caffe.NetParameter.layer (field 100) has wire type varint, expected length-delimited");
  WireWriter conv, layer, net;
  conv.write_float_field(1, 96);
  layer.write_string_field(1, "c");
  layer.write_string_field(2, "Convolution");
  layer.write_message(106, conv);
  net.write_message(caffe::kNetLayerField, layer);
  CHECK(err(net) == name + " (byte offset 22): caffe.ConvolutionParameter.num_output (field 1) has wire type fixed32, expected varint (or packed)");
  // Data count different from the shape, from hand-made bytes.
  WireWriter shape, blob, ip, net2;
  shape.write_packed_varints(1, {4});
  blob.write_message(caffe::kBlobShapeField, shape);
  const float three[3] = {1, 2, 3};
  blob.write_packed_floats(caffe::kBlobDataField, three, 3);
  ip.write_string_field(1, "ip");
  ip.write_string_field(2, "InnerProduct");
  ip.write_message(caffe::kLayerBlobsField, blob);
  net2.write_message(caffe::kNetLayerField, ip);
  CHECK(err(net2).find("layer 'ip' blob 0: shape 4 holds 4 values but the blob stores 3") != std::string::npos);
  // A negative legacy dimension (ten-byte varint).
  WireWriter negblob, ip3, net3;
  negblob.write_signed_field(caffe::kBlobNumField, -2);
  ip3.write_string_field(1, "ip");
  ip3.write_string_field(2, "InnerProduct");
  ip3.write_message(caffe::kLayerBlobsField, negblob);
  net3.write_message(caffe::kNetLayerField, ip3);
  CHECK(err(net3).find("layer 'ip' blob 0: dimension -2 of shape -2x0x0x0 is out of range") != std::string::npos);
  // A group where a layer belongs.
  WireWriter group;
  group.write_tag(caffe::kNetLayerField, WireType::StartGroup);
  CHECK(err(group).find("groups are deprecated and not supported") != std::string::npos);

  // Files that are not caffemodels at all.
  write_text_file(dir.file("empty.caffemodel"), "");
  CHECK(test::error_message([&] { read_caffemodel(dir.file("empty.caffemodel")); }) ==
        dir.file("empty.caffemodel") + ": the file holds no layers; is it a .caffemodel (a binary NetParameter)?");
  write_text_file(dir.file("text.caffemodel"), kKevinNetCurrent);
  CHECK(test::error_message([&] { read_caffemodel(dir.file("text.caffemodel")); }).rfind(dir.file("text.caffemodel"), 0) == 0);
  CHECK(test::error_message([&] { read_caffemodel(dir.file("absent.caffemodel")); }) ==
        dir.file("absent.caffemodel") + ": cannot open file for reading");
}

TEST_CASE("caffemodel: a model over 64 MB (one 20M-float blob) reads back exactly") {
  TempDir dir;
  nn::NetSpec net;
  net.name = "big";
  net.inputs = {"data"};
  net.input_shapes = {{1, 1000000}};
  nn::LayerSpec ip;
  ip.name = "fc";
  ip.type = "InnerProduct";
  ip.bottoms = {"data"};
  ip.tops = {"fc"};
  ip.inner_product.num_output = 20;
  net.layers.push_back(ip);
  nn::LayerWeights w{"fc", {nn::WeightBlob{{20, 1000000}, {}}, nn::WeightBlob{{20}, {}}}};
  w.blobs[0].data.resize(20000000);
  for (std::size_t i = 0; i < w.blobs[0].data.size(); ++i) w.blobs[0].data[i] = float(i % 1000003) * 0.001f - 7;
  w.blobs[1].data.assign(20, 0.5f);
  const std::string path = dir.file("big.caffemodel");
  write_caffemodel(path, net, {w}, CaffeFormat::Current);
  CHECK(fs::file_size(path) > 80000000u);
  const CaffeModel m = read_caffemodel(path);
  CHECK(dump(m.net) == dump(net));
  REQUIRE(m.weights.size() == 1);
  REQUIRE(m.weights[0].blobs.size() == 2);
  CHECK(m.weights[0].blobs[0].shape == std::vector<int>{20, 1000000});
  CHECK(m.weights[0].blobs[0].data == w.blobs[0].data);
  CHECK(m.weights[0].blobs[1].data == w.blobs[1].data);
}
