#pragma once
// deephash's own frontend: a network (ours, or an imported Caffe model) run in the test phase,
// with Caffe's input transformation. The latent activations are read from `latent_blob`
// (deephash's Latent layer, or the sigmoid after the paper's fc8_kevin) and the rerank features
// from `feature_blob` (fc7 in the paper). Test-time augmentation, for nets trained with mirroring
// and shifts: with `flip_average`, each image is also run mirrored and the two results averaged
// (twice the work); with `shift_average` s > 0, also shifted by s pixels up-left and down-right,
// those two weighing a quarter each against a half for the image in place (three times the work,
// six with the mirror; the weights of Keller Jordan's airbench). The averages are taken of the
// latent activations and features, before the codes are thresholded.

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
  int shift_average = 0;           // pixels; > 0: also average over the image shifted both ways
};

// Sets the test-time augmentation from its text: "none", "flip", "shift:N" or "flip+shift:N"
// (N pixels, 1 or more). `source` names the text in errors.
inline void set_test_augmentation(FrontendSpec& f, const std::string& text, const std::string& source) {
  bool flip = false;
  int shift = 0;
  std::size_t start = 0;
  while (text != "none" && start <= text.size()) {
    const std::size_t end = std::min(text.find('+', start), text.size());
    const std::string part = text.substr(start, end - start);
    if (part == "flip" && !flip) {
      flip = true;
    } else if (part.rfind("shift:", 0) == 0 && shift == 0 && part.size() > 6 && part.size() < 9 &&
               part.find_first_not_of("0123456789", 6) == std::string::npos && std::stoi(part.substr(6)) > 0) {
      shift = std::stoi(part.substr(6));
    } else {
      throw Error(source, "'" + text + "' is not a test-time augmentation: none, flip, shift:N or flip+shift:N");
    }
    start = end + 1;
  }
  f.flip_average = flip;
  f.shift_average = shift;
}

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
    if (spec_.shift_average <= 0) return encode_loaded(images.count, 1, activations, features, true);
    // The shifted views are made from the unshifted input, kept aside.
    Blob<float>& input = net_->blob(spec_.input_blob);
    const std::vector<float> unshifted(input.data(), input.data() + input.count());
    encode_loaded(images.count, 0.5f, activations, features, true);
    for (int direction : {-1, 1}) {
      std::copy(unshifted.begin(), unshifted.end(), input.data());
      shift_images(input, direction * spec_.shift_average, direction * spec_.shift_average, black_pixel());
      encode_loaded(images.count, 0.25f, activations, features, false);
    }
  }

  Net<float>& net() { return *net_; }
  const FrontendSpec& spec() const { return spec_; }

 private:
  // Runs the net on the input blob as loaded (and mirrored, with flip_average) and adds `weight`
  // times the result to the outputs, or writes it there when `first`.
  void encode_loaded(std::size_t count, float weight, float* activations, float* features, bool first) {
    const bool with_features = features && features_ > 0;
    const int passes = spec_.flip_average ? 2 : 1;
    for (int pass = 0; pass < passes; ++pass) {
      // The test transformation is a centred crop, so mirroring the input mirrors the image.
      if (pass == 1) mirror_images(net_->blob(spec_.input_blob));
      net_->forward(RunContext{Phase::Test, &pool_, nullptr});
      const float w = weight / float(passes);
      accumulate_rows(net_->blob(spec_.latent_blob), count, bits_, w, first && pass == 0, activations, "latent");
      if (with_features)
        accumulate_rows(net_->blob(spec_.feature_blob), count, features_, w, first && pass == 0, features, "feature");
    }
  }
  // out = w * blob (`overwrite`) or out += w * blob, row by row for n images of `width` values.
  static void accumulate_rows(const Blob<float>& blob, std::size_t n, int width, float w, bool overwrite, float* out,
                              const char* what) {
    if (blob.count() != n * std::size_t(width))
      throw Error("CnnFrontend", std::string("the ") + what + " blob holds " + std::to_string(blob.count()) +
                                     " values for " + std::to_string(n) + " images");
    for (std::size_t i = 0; i < blob.count(); ++i) out[i] = overwrite ? w * blob.data()[i] : out[i] + w * blob.data()[i];
  }
  // Per input channel, the value a black pixel takes after the transformation (what training's
  // random shifts bring in at the borders).
  std::vector<float> black_pixel() const {
    const TransformSpec& t = spec_.transform;
    const int channels = net_->blob(spec_.input_blob).shape(1);
    std::vector<float> v(std::size_t(channels), 0.0f);
    for (int c = 0; c < channels; ++c)
      if (!t.mean_values.empty()) v[std::size_t(c)] = -t.mean_values[t.mean_values.size() == 1 ? 0 : std::size_t(c)] * t.scale;
    return v;
  }

  FrontendSpec spec_;
  ThreadPool pool_;
  std::unique_ptr<Net<float>> net_;
  int bits_ = 0, features_ = 0;
};

}  // namespace deephash::nn
