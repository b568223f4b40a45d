#pragma once
// Describing a network in C++: each call adds a layer and returns the name of its output, so a
// network reads top to bottom like its prototxt.
//
//   NetBuilder b("lenet");
//   auto x = b.input("data", {64, 1, 28, 28});
//   x = b.relu(b.convolution("conv1", x, 32, 3, 1, 1));
//   ...

#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash::nn {

inline FillerSpec msra_filler() { return {"msra"}; }
inline FillerSpec xavier_filler() { return {"xavier"}; }
inline FillerSpec gaussian_filler(float std) { return {"gaussian", 0, 0, 1, 0, std}; }
inline FillerSpec constant_filler(float value) { return {"constant", value}; }

class NetBuilder {
 public:
  explicit NetBuilder(std::string name) { spec_.name = std::move(name); }

  std::string input(const std::string& name, std::vector<int> shape) {
    spec_.inputs.push_back(name);
    spec_.input_shapes.push_back(std::move(shape));
    return name;
  }

  std::string convolution(const std::string& name, const std::string& bottom, int num_output, int kernel,
                          int stride = 1, int pad = 0, int group = 1, FillerSpec weights = msra_filler(),
                          bool bias = true) {
    LayerSpec& l = add(name, "Convolution", {bottom});
    l.convolution = {num_output, bias, kernel, kernel, stride, stride, pad, pad, 1, group, weights, constant_filler(0)};
    return name;
  }

  std::string max_pool(const std::string& name, const std::string& bottom, int kernel, int stride, int pad = 0) {
    return pooling(name, bottom, PoolingSpec::Method::Max, kernel, stride, pad);
  }
  std::string average_pool(const std::string& name, const std::string& bottom, int kernel, int stride, int pad = 0) {
    return pooling(name, bottom, PoolingSpec::Method::Average, kernel, stride, pad);
  }
  std::string global_average_pool(const std::string& name, const std::string& bottom) {
    return global_pool(name, bottom, PoolingSpec::Method::Average);
  }
  std::string global_max_pool(const std::string& name, const std::string& bottom) {
    return global_pool(name, bottom, PoolingSpec::Method::Max);
  }

  // In place, as Caffe nets usually run activations.
  std::string relu(const std::string& bottom) { return in_place(bottom + "_relu", "ReLU", bottom); }
  std::string sigmoid(const std::string& bottom) { return in_place(bottom + "_sigmoid", "Sigmoid", bottom); }
  // A sigmoid writing a new blob (KevinNet's fc8_kevin_encode), not in place.
  std::string sigmoid_to(const std::string& name, const std::string& bottom) {
    add(name, "Sigmoid", {bottom});
    return name;
  }
  std::string dropout(const std::string& bottom, float ratio) {
    in_place(bottom + "_dropout", "Dropout", bottom);
    spec_.layers.back().dropout.ratio = ratio;
    return bottom;
  }
  // BatchNorm + Scale with bias, in place. The running statistics decay by 0.99 per step
  // (Caffe's default 0.999 averages over too many of the early, very different, steps of a run
  // that lasts a few thousand iterations).
  std::string batch_norm(const std::string& bottom, float moving_average_fraction = 0.99f) {
    in_place(bottom + "_bn", "BatchNorm", bottom);
    spec_.layers.back().batch_norm.moving_average_fraction = moving_average_fraction;
    in_place(bottom + "_scale", "Scale", bottom);
    spec_.layers.back().scale.bias_term = true;
    return bottom;
  }

  std::string lrn(const std::string& name, const std::string& bottom, int local_size, float alpha, float beta,
                  float k = 1) {
    add(name, "LRN", {bottom}).lrn = {local_size, alpha, beta, k};
    return name;
  }

  std::string inner_product(const std::string& name, const std::string& bottom, int num_output,
                            FillerSpec weights = msra_filler(), bool bias = true) {
    add(name, "InnerProduct", {bottom}).inner_product = {num_output, bias, 1, weights, constant_filler(0)};
    return name;
  }

  // The paper's latent hash layer. With SSDH weights set, a second top `<name>_loss` carries them.
  std::string latent(const std::string& name, const std::string& bottom, int bits, float binarization_weight = 0,
                     float balance_weight = 0) {
    LayerSpec& l = add(name, "Latent", {bottom});
    l.latent.num_output = bits;
    l.latent.binarization_weight = binarization_weight;
    l.latent.balance_weight = balance_weight;
    if (binarization_weight != 0 || balance_weight != 0) l.tops.push_back(name + "_loss");
    return name;
  }

  std::string eltwise_sum(const std::string& name, std::vector<std::string> bottoms) {
    add(name, "Eltwise", std::move(bottoms)).eltwise.operation = EltwiseSpec::Operation::Sum;
    return name;
  }

  std::string softmax_loss(const std::string& name, const std::string& scores, const std::string& labels) {
    add(name, "SoftmaxWithLoss", {scores, labels});
    return name;
  }
  std::string accuracy(const std::string& name, const std::string& scores, const std::string& labels) {
    add(name, "Accuracy", {scores, labels});
    return name;
  }
  std::string softmax(const std::string& name, const std::string& scores) {
    add(name, "Softmax", {scores});
    return name;
  }

  // Multipliers for the parameter blobs of the last layer added (weights, bias).
  NetBuilder& params(std::vector<ParamSpec> p) {
    last().params = std::move(p);
    return *this;
  }
  // Restricts the last layer added to one phase.
  NetBuilder& only_in(Phase phase) {
    last().phase = phase;
    return *this;
  }
  LayerSpec& last() {
    if (spec_.layers.empty()) throw Error("NetBuilder '" + spec_.name + "'", "no layer has been added yet");
    return spec_.layers.back();
  }

  const NetSpec& spec() const { return spec_; }

 private:
  LayerSpec& add(const std::string& name, const std::string& type, std::vector<std::string> bottoms) {
    LayerSpec l;
    l.name = name;
    l.type = type;
    l.bottoms = std::move(bottoms);
    l.tops = {name};
    spec_.layers.push_back(std::move(l));
    return spec_.layers.back();
  }
  std::string in_place(const std::string& name, const std::string& type, const std::string& blob) {
    add(name, type, {blob}).tops = {blob};
    return blob;
  }
  std::string global_pool(const std::string& name, const std::string& bottom, PoolingSpec::Method method) {
    LayerSpec& l = add(name, "Pooling", {bottom});
    l.pooling.method = method;
    l.pooling.global_pooling = true;
    return name;
  }
  std::string pooling(const std::string& name, const std::string& bottom, PoolingSpec::Method method, int kernel,
                      int stride, int pad) {
    add(name, "Pooling", {bottom}).pooling = {method, kernel, kernel, stride, stride, pad, pad, false};
    return name;
  }

  NetSpec spec_;
};

}  // namespace deephash::nn
