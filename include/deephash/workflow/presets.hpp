#pragma once
// Architecture presets: a network that ends in the paper's latent layer, together with what it
// takes to feed it (the input transformation and shape) and the blobs to read codes and rerank
// features from. `deephash train`, the examples and library users start from these.
//
//   fashion-mnist  28x28 gray, a small batch-normalised CNN (the main job)
//   cifar          32x32 colour, trainable from scratch on a CPU
//   kevinnet       the paper's KevinNet (CaffeNet + fc8_kevin), 256 resize, 227 crop, BGR, mean
//                  104/117/123: for fine-tuning an ImageNet model or scoring the authors' files

#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/nn/architectures.hpp"
#include "deephash/nn/cnn_frontend.hpp"

namespace deephash {

// The second stage of a two-stage preset (workflow/recipe.hpp): new hash layers of the requested
// length, and the trained layers between `frozen_below` and them, train for `epochs` on the
// values of `frozen_below` that the frozen network below computes once (empty: on the rerank
// features, i.e. the hash layers alone). With `once`, several code lengths take it once, at the
// longest; the others train new hash layers alone on that model's rerank features. `lr`: the
// peak learning rate (the new hash layers take ten times it); `label_smoothing`: the classifier's.
struct SecondStage {
  std::string frozen_below;
  double epochs = 30;
  bool once = false;
  float lr = 0.01f;
  float label_smoothing = 0;
};

struct ArchitecturePreset {
  std::string name;
  nn::NetSpec net;            // the training network (data, label -> ... -> latent -> loss)
  nn::FrontendSpec frontend;  // transformation, input shape, latent and feature blobs
  double epochs = 8;          // the passes over the training images its recipe is tuned for
  // Two stages: the network trains with a latent layer of at least `network_bits` units, then
  // new hash layers of the requested length and the layers just below them (`second_stage`).
  bool retrain_hash_layers = false;
  int network_bits = 0;
  SecondStage second_stage;
  // The recipe's time budget in minutes (TrainConfig::minutes; 0: none), and what the second
  // stage costs in epochs of the network's training, to plan the first stage's epochs within it.
  double minutes = 0;
  double second_stage_in_epochs = 0;
  // A first convolution (no bias) whose filters start as the whitening of the training images'
  // patches and stay frozen (nn/patch_whitening.hpp, workflow/recipe.hpp); empty: none.
  std::string whitened_layer;
};

inline std::vector<std::string> preset_names() { return {"fashion-mnist", "cifar", "kevinnet"}; }

// The preset for images of this kind when the user says "auto".
inline std::string choose_preset(int channels, int height, int width) {
  if (channels == 1 && height <= 32 && width <= 32) return "fashion-mnist";
  if (height > 0 && height <= 64 && width > 0 && width <= 64) return "cifar";
  return "kevinnet";
}

// Caffe's preprocessing of ImageNet models such as KevinNet: 256x256 resize, centre 227 crop
// (random crop and mirror when training), RGB to BGR, minus the BGR mean.
inline nn::FrontendSpec caffe_imagenet_frontend(std::vector<float> bgr_mean = {104, 117, 123}) {
  nn::FrontendSpec f;
  TransformSpec& t = f.transform;
  t.resize_height = t.resize_width = 256;
  t.crop = 227;
  t.mirror = Mirror::random;  // used only when training
  t.bgr = true;
  t.mean_values = std::move(bgr_mean);
  f.input_shape = {3, 227, 227};
  f.latent_blob = "fc8_kevin_encode";
  f.feature_blob = "fc7";
  return f;
}

// `channels` is the images' channel count, checked against what the preset needs.
inline ArchitecturePreset architecture_preset(const std::string& name, const nn::ArchitectureOptions& options,
                                              int channels) {
  ArchitecturePreset p;
  p.name = name;
  auto need_channels = [&](int wanted, const char* what) {
    if (channels != wanted)
      throw Error("architecture " + name, std::string("needs ") + what + " images, got " + std::to_string(channels) + " channels");
  };
  nn::FrontendSpec& f = p.frontend;
  TransformSpec& t = f.transform;
  if (name == "fashion-mnist") {
    need_channels(1, "gray");
    p.net = nn::fashion_mnist_net(options);
    t.resize_height = t.resize_width = 28;
    t.mean_values = {72.94f};  // Fashion-MNIST's mean pixel
    t.scale = 1 / 90.0f;       // about its standard deviation
    t.pad = 2;
    t.mirror = Mirror::random;
    f.input_shape = {1, 28, 28};
    f.feature_blob = "fc1";
    f.flip_average = true;  // +0.37 points of validation mAP@1000 at 48 bits (docs/TRAINING.md)
    // On Fashion-MNIST's validation split, fc1 and new hash layers retrained for 30 epochs on
    // the frozen convolutions' values scored 2.2 points more than the network alone (the hash
    // layers alone: 0.6), and 6 epochs of the network then did as well as 8 (docs/TRAINING.md).
    p.epochs = 6;
    p.retrain_hash_layers = true;
    // The network trains with 256 latent units, as cifar's: 0.9509 against 0.9479 with 48.
    p.network_bits = 256;
    p.second_stage.frozen_below = "pool2";
    // At 0.03: 0.9538 against 0.9509 at 0.01 for fc1 and the 48-bit hash layers; for the shorter
    // codes' hash layers alone, a draw (12 bits 0.9503 / 0.9525, 32 bits 0.9540 / 0.9503).
    p.second_stage.lr = 0.03f;
    // 12 and 32 bits as hash layers on the 48-bit model's retrained fc1: the validation mAP@1000
    // of their own second stages (0.9444 / 0.9444 against 0.9446 / 0.9444), in a third of the time.
    p.second_stage.once = true;
  } else if (name == "cifar") {
    need_channels(3, "colour");
    p.net = nn::cifar_net(options);
    t.resize_height = t.resize_width = 32;
    t.mean_values = {125.3f, 123.0f, 113.9f};  // CIFAR-10's channel means
    t.scale = 1 / 63.0f;
    t.pad = 4;
    t.mirror = Mirror::random;
    f.input_shape = {3, 32, 32};
    f.feature_blob = "pool";
    f.flip_average = true;  // +0.8 points of validation mAP@1000 on CIFAR-10 (docs/TRAINING.md)
    p.epochs = 11;          // about 23 minutes for 50,000 images on 2 cores with bf16 products, 4 more for the second stage
    // On CIFAR-10's validation split, a 12-bit code was 3.1 points better from a network trained
    // with 48 latent units than from one trained with 12, and a 48-bit code 1.0 points better from
    // one trained with 256 than with 48 (1.2 with the second stage at 0.03); retraining its last
    // convolution with new hash layers on the frozen network's pool3 values (10 epochs) scored 4.7
    // points more at 12 bits than new hash layers alone (docs/TRAINING.md).
    p.retrain_hash_layers = true;
    p.network_bits = 256;
    // Its learning rate 0.03 rather than transfer's 0.01: +0.4 points of validation mAP@1000 at
    // no cost (20 epochs gained as much for 2.3 more minutes; both together no more).
    p.second_stage = {"pool3", 10, false, 0.03f};
    // 30 minutes of training in all, whatever the machine: the epochs are planned on a pilot
    // (workflow/recipe.hpp), the second stage with its frozen pass counted as 2 epochs.
    p.minutes = 30;
    p.second_stage_in_epochs = 2;
    // conv0 whitens the images' 3x3 patches and stays frozen: +0.8 points of validation mAP@1000
    // at 11 epochs (docs/TRAINING.md).
    p.whitened_layer = "conv0";
  } else if (name == "kevinnet") {
    need_channels(3, "colour");
    p.net = nn::kevin_net(options);
    f = caffe_imagenet_frontend();
  } else {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("architecture " + name, "unknown; the presets are " + known +
                                            " (a Caffe model is fine-tuned with kevinnet and its .caffemodel as initial weights)");
  }
  return p;
}

}  // namespace deephash
