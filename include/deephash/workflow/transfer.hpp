#pragma once
// Transfer from a pretrained network, the way the paper turns an ImageNet CaffeNet into
// KevinNet: any Caffe deploy prototxt and its weights, the latent layer and a classifier put on
// top of a named blob (whose values are then also the rerank features), trained on the user's
// images. With a frozen part (`freeze_below`), the layers computing that blob keep their
// pretrained weights and run once per image (nn/frozen_features.hpp): the rest trains in
// minutes, with mirroring but without random crops as augmentation.

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "deephash/io/caffe/prototxt.hpp"
#include "deephash/nn/frozen_features.hpp"
#include "deephash/workflow/training.hpp"

namespace deephash {

struct TransferSpec {
  // The pretrained network: a Caffe deploy prototxt (its weights: TrainConfig::init), or a
  // deephash model, whose own input transformation is then the default.
  std::string backbone;
  std::string latent_after;  // the blob the latent layer reads: fc7 for CaffeNet, pool5/7x7_s1 for GoogLeNet
  std::string freeze_below;  // empty: every layer trains; else the layers computing this blob stay as loaded
  // Changes to the default input transformation: Caffe's ImageNet preprocessing for a prototxt
  // (256x256 resize, a centred crop to the net's input, random crop and mirror in training,
  // BGR, the ImageNet mean), the model's own for a deephash model.
  std::optional<int> resize;  // 0: straight to the net's input size
  std::optional<std::vector<float>> mean_values;  // in the net's channel order
  std::optional<float> scale;
  std::optional<bool> bgr;
};

namespace detail {

// The default transformation with the spec's changes, for a net whose input is `chw`.
inline TransformSpec transfer_transform(const TransferSpec& t, TransformSpec x, const std::vector<int>& chw) {
  if (t.resize) {
    if (chw[1] != chw[2]) throw Error(t.backbone, "--resize needs a square input, not " + std::to_string(chw[1]) + "x" + std::to_string(chw[2]));
    const int size = chw[1];
    x.resize_height = x.resize_width = *t.resize > 0 ? *t.resize : size;
    if (x.resize_height < size)
      throw Error(t.backbone, "the resize (" + std::to_string(*t.resize) + ") is smaller than the net's input (" + std::to_string(size) + ")");
    x.crop = x.resize_height > size ? size : 0;
  }
  if (t.mean_values) x.mean_values = *t.mean_values;
  if (!x.mean_values.empty() && x.mean_values.size() != 1 && int(x.mean_values.size()) != chw[0])
    throw Error(t.backbone, "the mean has " + std::to_string(x.mean_values.size()) + " values for " + std::to_string(chw[0]) + " channels");
  if (t.scale) x.scale = *t.scale;
  if (t.bgr) x.bgr = *t.bgr;
  x.bgr = x.bgr && chw[0] == 3;
  return x;
}

}  // namespace detail

namespace detail {

// The pretrained net with the hash layers on top of t.latent_after: the model's input
// transformation (`frontend`, or Caffe's ImageNet preprocessing at the net's input size where it
// has none) with the spec's changes, codes from "latent" and rerank features from latent_after.
inline HashingModel hash_layers_on(const nn::NetSpec& backbone, nn::FrontendSpec frontend, const TransferSpec& t,
                                   const ImageSource& images, const TrainConfig& c) {
  if (t.latent_after.empty()) throw Error(t.backbone, "transfer needs the blob the latent layer goes after (--latent-after)");
  auto [input, shape] = nn::image_input_of(backbone);
  if (shape.size() != 4) throw Error(t.backbone, "input '" + input + "' does not declare its shape (N, C, H, W)");
  if (frontend.input_shape.empty()) {  // a Caffe prototxt: ImageNet preprocessing at its input size
    frontend = caffe_imagenet_frontend();
    frontend.transform.crop = shape[2];
    frontend.transform.resize_height = frontend.transform.resize_width = std::max(256, shape[2]);
    frontend.flip_average = false;
  }
  frontend.input_blob = input;
  frontend.input_shape = {shape[1], shape[2], shape[3]};
  frontend.transform = transfer_transform(t, frontend.transform, frontend.input_shape);
  frontend.latent_blob = "latent";
  frontend.feature_blob = t.latent_after;
  HashingModel m;
  m.net = nn::hash_head_on(backbone, t.latent_after, architecture_options(c, images.num_classes()));
  m.frontend = std::move(frontend);
  if (c.mirror) m.frontend.transform.mirror = *c.mirror;
  m.class_names = images.class_names();
  m.description = backbone.name + " from " + t.backbone + ", " + std::to_string(c.bits) + "-bit latent layer after " + t.latent_after;
  if (!t.freeze_below.empty()) m.description += ", frozen up to " + t.freeze_below;
  return m;
}

}  // namespace detail

// The untrained transfer model: the pretrained net (a Caffe deploy prototxt or a deephash model)
// with the hash layers on top.
inline HashingModel transfer_model(const TransferSpec& t, const ImageSource& images, const TrainConfig& c) {
  if (!is_deephash_model(t.backbone)) return detail::hash_layers_on(read_caffe_prototxt(t.backbone), {}, t, images, c);
  HashingModel pretrained = load_model(t.backbone);
  return detail::hash_layers_on(pretrained.net, pretrained.frontend, t, images, c);
}

namespace detail {

// Above a frozen part: 30 epochs at 0.01 (0.1 for the new hash layers, which start from their
// fillers). On CIFAR-10's validation split, hash layers on the frozen CIFAR network scored 0.4
// points of mAP@1000 more on average over 12, 32 and 48 bits than at 0.001, and more than at
// 0.003 or 0.03 (docs/TRAINING.md).
inline TrainingDefaults above_frozen_defaults() { return {30, 0.01f, nn::hash_layer_names()}; }

}  // namespace detail

// The frozen part of a transfer model (the layers computing `blob`) with its pretrained weights,
// and its values for every training image: computed once, they serve every model that shares
// the part (hash layers of several lengths on one network), and a part of the same network that
// stops higher (only the layers between then run, over these values).
struct FrozenPart {
  std::string blob;
  std::vector<nn::LayerWeights> weights;  // the frozen layers'
  nn::FrozenFeatures features;
  double seconds = 0;  // the pass that computed the values

  bool empty() const { return features.size() == 0; }
};

namespace detail {

// A test-phase net of `part` (layers that are to stay frozen), with its weights from `pretrained`:
// every layer must find its weights there, and none may be one of the new layers.
inline nn::Net<float> frozen_net(const nn::NetSpec& part, const nn::NetOptions& options, const TransferSpec& t,
                                 const TrainingDefaults& d, const std::vector<nn::LayerWeights>& pretrained,
                                 const std::string& weights_from) {
  for (const nn::LayerSpec& l : part.layers)
    if (std::find(d.fresh_layers.begin(), d.fresh_layers.end(), l.name) != d.fresh_layers.end())
      throw Error("--freeze-below " + t.freeze_below, "would freeze the new layer '" + l.name + "': name a blob of the pretrained network");
  nn::Net<float> net(part, nn::Phase::Test, options);
  const std::vector<std::string> loaded = net.load_weights(pretrained, weights_from);
  for (const nn::LayerWeights& w : net.weights())
    if (std::find(loaded.begin(), loaded.end(), w.layer) == loaded.end())
      throw Error(weights_from, "has no weights for layer '" + w.layer + "', which is below the frozen blob '" + t.freeze_below + "'");
  return net;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The frozen part of `model` below t.freeze_below, run over every training image.
inline FrozenPart run_frozen_part(const HashingModel& model, const TransferSpec& t, const TrainingDefaults& d,
                                  const std::vector<nn::LayerWeights>& pretrained, const std::string& weights_from,
                                  const ImageSource& images, const TrainConfig& c, ThreadPool& pool, const std::string& label) {
  const std::vector<int>& chw = model.frontend.input_shape;
  nn::NetOptions below_options;
  below_options.input_shapes[model.frontend.input_blob] = {c.batch, chw[0], chw[1], chw[2]};
  const nn::NetCut cut = nn::cut_at_blob(model.net, t.freeze_below, nn::Phase::Train, {});
  nn::Net<float> below = frozen_net(cut.below, below_options, t, d, pretrained, weights_from);
  const auto start = std::chrono::steady_clock::now();
  FrozenPart part;
  part.blob = t.freeze_below;
  part.weights = below.weights();
  // Data-parallel (c.collective), each rank computes its slice of the values; the group shares them.
  part.features = nn::compute_frozen_features(below, images, model.frontend.transform, model.frontend.input_blob,
                                              t.freeze_below, std::size_t(c.batch), pool, c.show_progress,
                                              label + ": frozen layers", c.collective,
                                              training_options_for(c, model).bf16_products);
  part.seconds = seconds_since(start);
  return part;
}

// The frozen part of `model` below t.freeze_below from `lower`, a frozen part of the same network
// (the same weights below lower.blob) that stops below it: the layers between run over its values.
inline FrozenPart extend_frozen_part(const HashingModel& model, const TransferSpec& t, const FrozenPart& lower,
                                     const TrainingDefaults& d, const std::vector<nn::LayerWeights>& pretrained,
                                     const std::string& weights_from, const TrainConfig& c, ThreadPool& pool,
                                     const std::string& label) {
  const nn::NetCut cut = nn::cut_at_blob(model.net, t.freeze_below, nn::Phase::Train, {});
  const nn::NetCut between = nn::cut_at_blob(cut.below, lower.blob, nn::Phase::Train, {});
  nn::NetOptions options;
  std::vector<int> input = {c.batch};
  input.insert(input.end(), lower.features.item_shape.begin(), lower.features.item_shape.end());
  options.input_shapes[lower.blob] = input;
  nn::Net<float> middle = frozen_net(between.above, options, t, d, pretrained, weights_from);
  const auto start = std::chrono::steady_clock::now();
  FrozenPart part;
  part.blob = t.freeze_below;
  part.weights = lower.weights;
  for (nn::LayerWeights& w : middle.weights()) part.weights.push_back(std::move(w));
  part.features = nn::propagate_frozen_features(middle, lower.features, lower.blob, t.freeze_below, std::size_t(c.batch),
                                                pool, label + ": frozen layers from " + lower.blob, c.collective,
                                                training_options_for(c, model).bf16_products);
  part.seconds = seconds_since(start);
  return part;
}

// Trains the layers of `model` above t.freeze_below on the frozen part's values; the layers
// above start from `pretrained` where it has them. The time includes the frozen pass.
inline TrainResult train_on_frozen_part(HashingModel model, const TransferSpec& t, const TrainingDefaults& d,
                                        const std::vector<nn::LayerWeights>& pretrained, const std::string& weights_from,
                                        const FrozenPart& frozen, const ImageSource& images, const TrainConfig& c,
                                        ThreadPool& pool, const std::string& label) {
  const auto start = std::chrono::steady_clock::now();
  const nn::NetCut cut = nn::cut_at_blob(model.net, t.freeze_below, nn::Phase::Train, {});
  // Data-parallel, each rank trains on its share of every batch: the part above holds a share.
  const int share = int(nn::detail::rank_share(c.batch, c.collective, label));
  nn::NetOptions above_options;
  above_options.seed = c.seed;
  above_options.input_shapes["label"] = {share};
  std::vector<int> input = {share};
  input.insert(input.end(), frozen.features.item_shape.begin(), frozen.features.item_shape.end());
  above_options.input_shapes[t.freeze_below] = input;
  nn::Net<float> above(cut.above, nn::Phase::Train, above_options);
  above.load_weights(pretrained, weights_from);  // pretrained layers above the cut start from their weights
  const nn::SolverSpec s = solver_spec(c, d, images.size());
  nn::SgdSolver<float> solver(above, s);
  nn::TrainOptions options = training_options_for(c, model);
  options.data_blob = t.freeze_below;
  options.accuracy_blob = above.has_blob("accuracy") ? "accuracy" : "";
  TrainResult result;
  result.epochs = c.epochs.value_or(d.epochs);
  result.seed = c.seed;
  result.batch = c.batch;
  result.history = nn::train_on_features(above, solver, frozen.features, options, s.max_iter, pool, label);
  result.history.seconds = frozen.seconds + seconds_since(start);
  result.model = std::move(model);
  result.model.weights = frozen.weights;
  for (nn::LayerWeights& w : above.weights()) result.model.weights.push_back(std::move(w));
  return result;
}

// Trains the layers above `t.freeze_below` on the frozen layers' outputs, computed once; the
// pretrained weights come from `weights_from` (a file name, for messages), less d.fresh_layers.
inline TrainResult train_above_frozen(HashingModel model, const TransferSpec& t, const TrainingDefaults& d,
                                      std::vector<nn::LayerWeights> weights, const std::string& weights_from,
                                      const ImageSource& images, const TrainConfig& c, ThreadPool& pool,
                                      const std::string& label) {
  if (c.device != "cpu") throw Error("--freeze-below", "the layers above a frozen part train on the CPU only");
  if (!c.snapshot.empty()) throw Error("--freeze-below", "training above a frozen part writes no snapshots (it takes minutes)");
  const std::vector<nn::LayerWeights> pretrained = without_layers(std::move(weights), d.fresh_layers);
  const FrozenPart frozen = run_frozen_part(model, t, d, pretrained, weights_from, images, c, pool, label);
  return train_on_frozen_part(std::move(model), t, d, pretrained, weights_from, frozen, images, c, pool, label);
}

}  // namespace detail

// Trains a transfer model on every item of `images`: the whole net from c.init's weights (8
// epochs, learning rate 0.001 by default: KevinNet's solver, the new layers' multipliers 10 /
// 20), or with a frozen part only the layers above it (30 epochs on values computed once,
// learning rate 0.01 by default).
inline TrainResult train_transfer_model(const ImageSource& images, const TransferSpec& t, const TrainConfig& c,
                                        ThreadPool& pool, const std::string& label = "train") {
  check_train_config(c);
  if (!c.resume.empty()) {
    if (!t.freeze_below.empty()) throw Error("--resume", "training above a frozen part is not resumed: run it again");
    return train_model({}, {}, images, c, pool, label);
  }
  if (c.init.empty()) throw Error(t.backbone, "transfer needs the pretrained network's weights (--init)");
  HashingModel model = transfer_model(t, images, c);
  if (t.freeze_below.empty())
    return train_model(std::move(model), {8, 0.001f, nn::hash_layer_names()}, images, c, pool, label);
  return detail::train_above_frozen(std::move(model), t, detail::above_frozen_defaults(), load_weights(c.init), c.init,
                                    images, c, pool, label);
}

// The second stage of a two-stage preset (ArchitecturePreset::retrain_hash_layers): new hash
// layers on top of `trained`'s rerank features, one model per code length in `bit_lengths`
// (c.bits is ignored), each trained with the layers between stage.frozen_below and them on the
// values of stage.frozen_below that the frozen network computes once for all the lengths, at the
// stage's learning rate and label smoothing (by default 0.01 and none, as transfer above a frozen
// part). Each model's training time includes the frozen pass.
//
// `frozen`, where given, carries the frozen values from one call to the next: empty, it receives
// this call's pass over the images; holding values of `trained`'s network at a blob below this
// stage's, only the layers between run over them (shorter codes on a longer one's retrained
// layers: SecondStage::once), as they do at this stage's blob.
inline std::vector<TrainResult> retrain_hash_layers(const HashingModel& trained, const ImageSource& images, TrainConfig c,
                                                    const std::vector<int>& bit_lengths, ThreadPool& pool,
                                                    const std::string& label = "hash layers", const SecondStage& stage = {},
                                                    FrozenPart* frozen = nullptr) {
  TransferSpec t;
  t.backbone = "the trained network";
  t.latent_after = trained.frontend.feature_blob;
  t.freeze_below = stage.frozen_below.empty() ? t.latent_after : stage.frozen_below;
  c.epochs = stage.epochs;
  c.lr = stage.lr;
  c.label_smoothing = stage.label_smoothing;
  c.snapshot.clear();
  c.device = "cpu";  // minutes of work once the frozen pass is done
  const TrainingDefaults d = detail::above_frozen_defaults();
  // New hash layers (hash_layers_on leaves the trained ones out), as measured: retraining them
  // from their fillers at this learning rate beat keeping them (docs/TRAINING.md).
  const std::vector<nn::LayerWeights> pretrained = without_layers(trained.weights, d.fresh_layers);
  FrozenPart own;
  const FrozenPart* values = nullptr;  // at t.freeze_below
  std::vector<TrainResult> results;
  for (int bits : bit_lengths) {
    c.bits = bits;
    HashingModel model = detail::hash_layers_on(trained.net, trained.frontend, t, images, c);
    if (!values && frozen && !frozen->empty()) {
      if (frozen->blob == t.freeze_below) {
        values = frozen;
      } else {
        own = detail::extend_frozen_part(model, t, *frozen, d, pretrained, t.backbone, c, pool, label);
        values = &own;
      }
    } else if (!values) {
      FrozenPart& part = frozen ? *frozen : own;
      part = detail::run_frozen_part(model, t, d, pretrained, t.backbone, images, c, pool, label);
      values = &part;
    }
    const std::string what = bit_lengths.size() > 1 ? label + ", " + std::to_string(bits) + " bits" : label;
    TrainResult r = detail::train_on_frozen_part(std::move(model), t, d, pretrained, t.backbone, *values, images, c, pool, what);
    r.model.description = trained.description + ", hash layers retrained at " + std::to_string(bits) + " bits on its frozen " + t.freeze_below;
    results.push_back(std::move(r));
  }
  return results;
}

// The same for one code length, c.bits.
inline TrainResult retrain_hash_layers(const HashingModel& trained, const ImageSource& images, const TrainConfig& c,
                                       ThreadPool& pool, const std::string& label = "hash layers",
                                       const SecondStage& stage = {}) {
  return std::move(retrain_hash_layers(trained, images, c, {c.bits}, pool, label, stage).front());
}

}  // namespace deephash
