#pragma once
// deephash's own frontend: a network (ours, or an imported Caffe model) run in the test phase,
// with Caffe's input transformation. The latent activations are read from `latent_blob`
// (deephash's Latent layer, or the sigmoid after the paper's fc8_kevin) and the rerank features
// from `feature_blob` (fc7 in the paper). With `flip_average`, each image is also run mirrored
// and the two results averaged (test-time augmentation: twice the work, steadier codes for nets
// trained with mirroring).

#include <algorithm>
#include <memory>
#include <string>

#include "deephash/frontend.hpp"
#include "deephash/nn/deploy.hpp"
#include "deephash/nn/trainer.hpp"

namespace deephash::nn {

struct FrontendSpec {
  TransformSpec transform;
  std::string input_blob = "data";
  std::string latent_blob = "latent";
  std::string feature_blob;        // empty: no rerank features
  std::vector<int> input_shape;    // C, H, W of the net's input; empty: as the net declares it
  bool flip_average = false;       // average over the image and its mirror image
};

class CnnFrontend : public Frontend {
 public:
  // `net` may be a training network: only the layers leading to the latent and feature blobs are
  // kept (no labels, losses or accuracy).
  CnnFrontend(const NetSpec& net, const std::vector<LayerWeights>& weights, FrontendSpec spec,
              unsigned num_threads = default_num_threads(), const std::string& source = "model")
      : spec_(std::move(spec)), pool_(num_threads) {
    std::vector<std::string> outputs = {spec_.latent_blob};
    if (!spec_.feature_blob.empty()) outputs.push_back(spec_.feature_blob);
    NetOptions options;
    if (!spec_.input_shape.empty()) {
      std::vector<int> shape = {1};
      shape.insert(shape.end(), spec_.input_shape.begin(), spec_.input_shape.end());
      options.input_shapes[spec_.input_blob] = shape;
    }
    net_ = std::make_unique<Net<float>>(prune_for_outputs(net, outputs, Phase::Test), Phase::Test, options);
    net_->load_weights(weights, source);
    if (!net_->has_blob(spec_.input_blob)) throw Error(source, "the network has no input blob '" + spec_.input_blob + "'");
    bits_ = int(net_->blob(spec_.latent_blob).count_from(1));
    if (!spec_.feature_blob.empty()) features_ = int(net_->blob(spec_.feature_blob).count_from(1));
  }

  int code_bits() const override { return bits_; }
  int feature_dim() const override { return features_; }
  // The net's channels; the transformation's resize, or the net's input size when the
  // transformation neither resizes nor crops (the images must then fit the net as they are).
  DecodeOptions decode_options() const override {
    const std::vector<int>& shape = net_->blob(spec_.input_blob).shape();
    DecodeOptions d;
    d.channels = shape.size() > 1 ? shape[1] : 3;
    const TransformSpec& t = spec_.transform;
    if (t.resize_height > 0 && t.resize_width > 0) {
      d.resize_height = t.resize_height;
      d.resize_width = t.resize_width;
    } else if (t.crop == 0 && t.pad == 0 && shape.size() == 4) {
      d.resize_height = shape[2];
      d.resize_width = shape[3];
    }
    return d;
  }

  void encode(const ImageBatchView& images, float* activations, float* features) override {
    if (images.count == 0) return;
    load_images(*net_, images, spec_.transform, pool_, spec_.input_blob);
    net_->forward(RunContext{Phase::Test, &pool_, nullptr});
    copy_rows(net_->blob(spec_.latent_blob), images.count, bits_, activations, "latent");
    if (features && features_ > 0) copy_rows(net_->blob(spec_.feature_blob), images.count, features_, features, "feature");
    if (!spec_.flip_average) return;
    // The test transformation is a centred crop, so mirroring the input mirrors the image.
    mirror_images(net_->blob(spec_.input_blob));
    net_->forward(RunContext{Phase::Test, &pool_, nullptr});
    average_rows(net_->blob(spec_.latent_blob), activations);
    if (features && features_ > 0) average_rows(net_->blob(spec_.feature_blob), features);
  }

  Net<float>& net() { return *net_; }
  const FrontendSpec& spec() const { return spec_; }

 private:
  void copy_rows(Blob<float>& blob, std::size_t n, int width, float* out, const char* what) {
    if (blob.count() != n * std::size_t(width))
      throw Error("CnnFrontend", std::string("the ") + what + " blob holds " + std::to_string(blob.count()) +
                                     " values for " + std::to_string(n) + " images");
    std::copy(blob.data(), blob.data() + blob.count(), out);
  }
  // out = (out + blob) / 2, element by element (the sizes were checked by copy_rows).
  static void average_rows(const Blob<float>& blob, float* out) {
    for (std::size_t i = 0; i < blob.count(); ++i) out[i] = 0.5f * (out[i] + blob.data()[i]);
  }

  FrontendSpec spec_;
  ThreadPool pool_;
  std::unique_ptr<Net<float>> net_;
  int bits_ = 0, features_ = 0;
};

}  // namespace deephash::nn
