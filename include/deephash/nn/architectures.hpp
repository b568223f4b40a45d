#pragma once
// Ready-made networks, each ending in the paper's latent layer and a softmax classifier:
//   fashion_mnist_net  a small batch-normalised CNN for 28x28 gray images (the main job)
//   cifar_net          a CIFAR-sized CNN for 32x32 colour images, trainable from scratch on a CPU
//   kevin_net          the paper's KevinNet: CaffeNet (AlexNet) + fc8_kevin latent layer, 227x227
//   hash_head_on       any pretrained network (a deploy prototxt) with the latent layer put on top
// Blob names are fixed: input "data" and "label", codes from "latent" ("fc8_kevin_encode" in
// KevinNet), rerank features from "fc1" / "pool" / "fc7", classifier scores "scores", training
// loss "loss".

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "deephash/nn/deploy.hpp"
#include "deephash/nn/net_builder.hpp"

namespace deephash::nn {

struct ArchitectureOptions {
  int bits = 48;
  int classes = 10;
  int batch = 64;
  float binarization_weight = 0;  // SSDH losses (see LatentSpec), off by default
  float balance_weight = 0;
  std::optional<float> label_smoothing;  // the classifier's (SoftmaxSpec); unset: the network's default
};

namespace detail {
inline std::string conv_bn_relu(NetBuilder& b, const std::string& name, const std::string& in, int channels) {
  return b.relu(b.batch_norm(b.convolution(name, in, channels, 3, 1, 1, 1, msra_filler(), false)));
}
inline void latent_and_classifier(NetBuilder& b, const std::string& features, const ArchitectureOptions& o,
                                  float default_label_smoothing = 0) {
  const std::string code = b.latent("latent", features, o.bits, o.binarization_weight, o.balance_weight);
  b.inner_product("scores", code, o.classes, xavier_filler());
  b.softmax_loss("loss", "scores", "label");
  b.last().softmax.label_smoothing = o.label_smoothing.value_or(default_label_smoothing);
  b.accuracy("accuracy", "scores", "label");
}
}  // namespace detail

// conv 32-32-pool-64-64-pool, fc 256, all batch-normalised; ~19 M multiply-adds per image.
inline NetSpec fashion_mnist_net(const ArchitectureOptions& o) {
  NetBuilder b("fashion_mnist_hash");
  auto x = b.input("data", {o.batch, 1, 28, 28});
  b.input("label", {o.batch});
  x = detail::conv_bn_relu(b, "conv1", x, 32);
  x = detail::conv_bn_relu(b, "conv2", x, 32);
  x = b.max_pool("pool1", x, 2, 2);
  x = detail::conv_bn_relu(b, "conv3", x, 64);
  x = detail::conv_bn_relu(b, "conv4", x, 64);
  x = b.max_pool("pool2", x, 2, 2);
  x = b.relu(b.batch_norm(b.inner_product("fc1", x, 256, msra_filler(), false)));
  detail::latent_and_classifier(b, x, o);
  return b.spec();
}

// Three stages of two 3x3 convolutions (64, 128, 256 channels), each stage halving the image with
// a max pool after its first convolution, batch norm after every convolution, then a global max
// pool ("pool", the rerank features) into the latent layer; label smoothing 0.2 by default.
// ~86 M multiply-adds per image. The layout follows the fastest published CIFAR-10 recipes
// (pool before norm, no fully connected layer but the classifier; see docs/TRAINING.md).
inline NetSpec cifar_net(const ArchitectureOptions& o) {
  NetBuilder b("cifar_hash");
  auto x = b.input("data", {o.batch, 3, 32, 32});
  b.input("label", {o.batch});
  x = detail::conv_bn_relu(b, "conv0", x, 32);
  int stage = 0;
  for (int channels : {64, 128, 256}) {
    const std::string name = "conv" + std::to_string(++stage);
    x = b.convolution(name + "a", x, channels, 3, 1, 1, 1, msra_filler(), false);
    x = b.relu(b.batch_norm(b.max_pool("pool" + std::to_string(stage), x, 2, 2)));
    x = detail::conv_bn_relu(b, name + "b", x, channels);
  }
  x = b.global_max_pool("pool", x);
  detail::latent_and_classifier(b, x, o, 0.2f);
  return b.spec();
}

// The paper's network: CaffeNet with fc8_kevin (gaussian 0.005, bias 1) + sigmoid, and the
// classifier with lr multipliers 10 / 20, for 227x227 BGR input with the mean subtracted.
inline NetSpec kevin_net(const ArchitectureOptions& o) {
  NetBuilder b("KevinNet");
  auto x = b.input("data", {o.batch, 3, 227, 227});
  b.input("label", {o.batch});
  const FillerSpec g01 = gaussian_filler(0.01f), g005 = gaussian_filler(0.005f);
  x = b.relu(b.convolution("conv1", x, 96, 11, 4, 0, 1, g01));
  x = b.lrn("norm1", b.max_pool("pool1", x, 3, 2), 5, 1e-4f, 0.75f);
  x = b.relu(b.convolution("conv2", x, 256, 5, 1, 2, 2, g01));
  x = b.lrn("norm2", b.max_pool("pool2", x, 3, 2), 5, 1e-4f, 0.75f);
  x = b.relu(b.convolution("conv3", x, 384, 3, 1, 1, 1, g01));
  x = b.relu(b.convolution("conv4", x, 384, 3, 1, 1, 2, g01));
  x = b.relu(b.convolution("conv5", x, 256, 3, 1, 1, 2, g01));
  x = b.max_pool("pool5", x, 3, 2);
  x = b.dropout(b.relu(b.inner_product("fc6", x, 4096, g005)), 0.5f);
  x = b.dropout(b.relu(b.inner_product("fc7", x, 4096, g005)), 0.5f);
  b.inner_product("fc8_kevin", x, o.bits, g005);
  b.last().inner_product.bias_filler = constant_filler(1);
  b.sigmoid_to("fc8_kevin_encode", "fc8_kevin");
  b.inner_product("fc8_classifier", "fc8_kevin_encode", o.classes, gaussian_filler(0.01f));
  b.params({{10, 1}, {20, 0}});
  b.softmax_loss("loss", "fc8_classifier", "label");
  b.accuracy("accuracy", "fc8_classifier", "label");
  return b.spec();
}

// The input blob of a network (its first net-level input or Input layer top) and the shape it
// declares (empty if none).
inline std::pair<std::string, std::vector<int>> image_input_of(const NetSpec& net) {
  if (!net.inputs.empty()) return {net.inputs[0], net.input_shapes.empty() ? std::vector<int>{} : net.input_shapes[0]};
  for (const LayerSpec& l : net.layers)
    if (is_input_type(l.type) && !l.tops.empty()) return {l.tops[0], l.input.shapes.empty() ? std::vector<int>{} : l.input.shapes[0]};
  throw Error("net '" + net.name + "'", "declares no input");
}

// The layers hash_head_on adds that hold weights: the latent layer and the classifier.
inline std::vector<std::string> hash_layer_names() { return {"latent", "scores"}; }

// A pretrained network (e.g. a Caffe deploy prototxt) with the paper's hash layers put on top,
// as KevinNet puts them on CaffeNet: the latent layer reads blob `after`, the classifier and loss
// follow, with the learning-rate multipliers 10 / 20 of new layers on a pretrained net. Layers of
// the backbone that `after` does not need (its own classifier) are left out.
inline NetSpec hash_head_on(const NetSpec& backbone, const std::string& after, const ArchitectureOptions& o) {
  // Only what computes `after`: the backbone's own classifier (or hash layers) are left out.
  NetSpec net = keep_needed_for(backbone, {after}, Phase::Train);
  for (const LayerSpec& l : net.layers)
    for (const std::string& t : l.tops)
      for (const char* ours : {"latent", "scores", "loss", "accuracy", "label"})
        if (t == ours)
          throw Error("net '" + net.name + "'", std::string("already has a blob '") + ours + "', which the hash layers add");
  LayerSpec label;
  label.type = "Input";
  label.name = "label";
  label.tops = {"label"};
  label.input.shapes = {{o.batch}};
  net.layers.insert(net.layers.begin(), label);
  NetBuilder b(net.name);
  detail::latent_and_classifier(b, after, o);
  for (LayerSpec l : b.spec().layers) {
    if (l.type == "Latent" || l.type == "InnerProduct") l.params = {{10, 1}, {20, 0}};
    net.layers.push_back(std::move(l));
  }
  return net;
}

}  // namespace deephash::nn
