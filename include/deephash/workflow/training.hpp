#pragma once
// The training driver: from a labelled image source to a hashing model, the way `deephash
// train` does it — an architecture preset sized to the images, initial weights from any model
// file (fine-tuning), Caffe's SGD with a learning-rate policy, snapshots to resume from exactly,
// on the CPU or (with the GPU module) on CUDA — with the training curves as a picture.
//
// Data-parallel (TrainConfig::collective, e.g. the ranks of an MPI job): every rank calls
// train_model with the same configuration and images; each trains on its slice of every global
// batch (nn/trainer.hpp) and returns the same model. Snapshots are written by rank 0 alone (a
// failure to write one stops every rank); whoever writes the result should do the same.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "deephash/core/collective.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/eval/svg_plot.hpp"
#include "deephash/io/container/model_file.hpp"
#include "deephash/nn/bf16_products.hpp"
#include "deephash/nn/trainer.hpp"
#include "deephash/workflow/presets.hpp"
#include "deephash/workflow/weights.hpp"

#ifdef DEEPHASH_WITH_CUDA
#include <deephash/cuda/gpu_net.hpp>
#endif

namespace deephash {

struct TrainConfig {
  std::string arch = "auto";  // a preset name (workflow/presets.hpp), or auto: chosen from the image size
  int bits = 48;
  std::optional<double> epochs;  // unset: the architecture's (ArchitecturePreset::epochs)
  // A budget for a preset's whole recipe, in minutes of training on this machine: with `epochs`
  // unset, the network trains for the epochs that fit, timed on a pilot of its steps
  // (workflow/recipe.hpp). Unset: the preset's budget, if it has one; 0: none.
  std::optional<double> minutes;
  int batch = 64;
  std::optional<float> lr;    // unset: 0.1 for a preset, 0.001 / 0.01 for transfer (workflow/transfer.hpp)
  std::string lr_policy = "onecycle";
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  std::uint64_t seed = 1;
  float binarization_weight = 0, balance_weight = 0;  // the SSDH losses (off)
  std::optional<float> label_smoothing;  // unset: the architecture's default
  std::optional<Mirror> mirror;          // training flips; unset: the architecture's (or the transfer's)
  std::string init;            // weights to start from (any format load_weights reads): fine-tuning
  std::string snapshot;        // where to write snapshots ("{iter}" becomes the iteration); empty: none
  int snapshot_every = 0;      // iterations between snapshots (0: only at the end)
  std::string resume;          // a snapshot to continue from
  std::string device = "cpu";  // or "cuda" (programs linked with deephash::cuda)
  // fp32, or bf16 (the convolutions' operands rounded to bfloat16, float sums and weights: on
  // the CPU where it has AVX-512 BF16, nn/bf16_products.hpp), or on the GPU also tf32; "auto":
  // bf16 on a CPU that has it (the same validation mAP on CIFAR-10, 20% faster here:
  // docs/TRAINING.md), fp32 elsewhere; a recipe with a time budget times both on its pilot and
  // keeps the faster (plan_within_budget in workflow/recipe.hpp).
  std::string math = "auto";
  bool show_progress = true;
  // The group of ranks training together, data-parallel, on the CPU: `batch` is then the global
  // batch, a multiple of the group's size. Null: this process alone.
  Collective* collective = nullptr;
  // Called after every training step (nn::TrainOptions::on_step): progress shown another way, or
  // a run stopped by throwing.
  std::function<void(const nn::TrainingProgress&)> on_step;
};

struct TrainResult {
  HashingModel model;
  nn::TrainingHistory history;
  double epochs = 0;  // passes over the training images, as trained
  // The sample order's seed and the batch size it trained with: a resumed run's are its snapshot's.
  std::uint64_t seed = 0;
  int batch = 0;
};

// The file a snapshot at this iteration goes to: the pattern with "{iter}" replaced by it, so
// that every snapshot is kept.
inline std::string snapshot_path(std::string pattern, int iteration) {
  const std::size_t at = pattern.find("{iter}");
  if (at != std::string::npos) pattern.replace(at, 6, std::to_string(iteration));
  return pattern;
}

// The hash layers and batch size the configuration asks for, with a classifier for `classes`.
inline nn::ArchitectureOptions architecture_options(const TrainConfig& c, int classes) {
  nn::ArchitectureOptions o;
  o.bits = c.bits;
  o.classes = classes;
  o.batch = c.batch;
  o.binarization_weight = c.binarization_weight;
  o.balance_weight = c.balance_weight;
  o.label_smoothing = c.label_smoothing;
  return o;
}

// The preset for these images (the configured one, or the one their size suggests), sized to
// the configuration.
inline ArchitecturePreset preset_for(const ImageSource& images, const TrainConfig& c) {
  const nn::ArchitectureOptions o = architecture_options(c, images.num_classes());
  const int channels = images.natural_channels();
  std::string arch = c.arch;
  if (arch == "auto") {
    const auto [height, width] = stored_image_size(images);
    arch = choose_preset(channels, height, width);
  }
  return architecture_preset(arch, o, channels);
}

// The preset's network and input transformation for these images, untrained.
inline HashingModel untrained_model(ArchitecturePreset preset, const ImageSource& images, const TrainConfig& c) {
  HashingModel m;
  m.net = std::move(preset.net);
  m.frontend = std::move(preset.frontend);
  if (c.mirror) m.frontend.transform.mirror = *c.mirror;
  m.class_names = images.class_names();
  m.description = preset.name + " network, " + std::to_string(c.bits) + "-bit latent layer";
  return m;
}

// A Mirror from its name: none, random or alternating.
inline Mirror mirror_named(const std::string& name) {
  if (name == "none") return Mirror::none;
  if (name == "random") return Mirror::random;
  if (name == "alternating") return Mirror::alternating;
  throw Error("mirror " + name, "must be none, random or alternating");
}

// The arithmetic a run uses: c.math, with "auto" made definite for c.device.
inline std::string resolved_math(const TrainConfig& c) {
  if (c.math != "auto") return c.math;
  return c.device == "cpu" && nn::bf16::available() ? "bf16" : "fp32";
}

inline void check_train_config(const TrainConfig& c) {
  if (c.device != "cpu" && c.device != "cuda") throw Error("device " + c.device, "must be cpu or cuda");
  if (c.math != "auto" && c.math != "fp32" && c.math != "tf32" && c.math != "bf16")
    throw Error("math " + c.math, "must be auto, fp32, tf32 or bf16");
  if (c.device == "cpu" && c.math == "tf32") throw Error("math tf32", "is for the GPU; on the CPU use fp32 or bf16");
  if (c.device == "cpu" && c.math == "bf16" && !nn::bf16::available())
    throw Error("math bf16", "needs a CPU with AVX-512 BF16 (and a build for it, -march=native); use fp32");
  if (c.bits < 1) throw Error("train", "the code length must be positive, not " + std::to_string(c.bits));
  if (c.batch < 1) throw Error("train", "the batch size must be positive, not " + std::to_string(c.batch));
  if (c.epochs && !(*c.epochs > 0)) throw Error("train", "the number of epochs must be positive");
  if (c.minutes && !(*c.minutes >= 0)) throw Error("train", "the time budget must be 0 (none) or a positive number of minutes");
#ifndef DEEPHASH_WITH_NCCL
  if (c.collective && c.collective->size() > 1 && c.device == "cuda")
    throw Error("device cuda", "data-parallel training on GPUs needs the GPU module built with NCCL; use --device cpu, "
                               "or train on one GPU in one process");
#endif
}

// What a training run falls back on where the configuration is silent, and the layers that
// start from their fillers whatever TrainConfig::init holds (hash layers new to a pretrained net).
struct TrainingDefaults {
  double epochs = 8;
  float lr = 0.1f;
  std::vector<std::string> fresh_layers;
};

// `weights` without the layers named in `fresh`.
inline std::vector<nn::LayerWeights> without_layers(std::vector<nn::LayerWeights> weights, const std::vector<std::string>& fresh) {
  weights.erase(std::remove_if(weights.begin(), weights.end(),
                               [&](const nn::LayerWeights& w) { return std::find(fresh.begin(), fresh.end(), w.layer) != fresh.end(); }),
                weights.end());
  return weights;
}

// The solver for `epochs` passes over `images` items in batches of c.batch.
inline nn::SolverSpec solver_spec(const TrainConfig& c, const TrainingDefaults& d, std::size_t images) {
  nn::SolverSpec s;
  s.base_lr = c.lr.value_or(d.lr);
  s.lr_policy = c.lr_policy;
  s.momentum = c.momentum;
  s.weight_decay = c.weight_decay;
  s.max_iter = std::max(1, int(c.epochs.value_or(d.epochs) * double(images) / c.batch + 0.5));
  s.stepsize = std::max(1, s.max_iter / 3);
  return s;
}

inline nn::TrainOptions training_options_for(const TrainConfig& c, const HashingModel& model) {
  nn::TrainOptions t;
  t.batch_size = c.batch;
  t.transform = model.frontend.transform;
  t.data_blob = model.frontend.input_blob;
  t.seed = c.seed;
  t.show_progress = c.show_progress;
  t.collective = c.collective;
  t.on_step = c.on_step;
  t.bf16_products = c.device == "cpu" && resolved_math(c) == "bf16";
  return t;
}

// Trains `start` (untrained, or with c.init's weights loaded over it) on every item of `images`
// (a subset source holds a training split out), or continues the snapshot c.resume.
inline TrainResult train_model(HashingModel start, const TrainingDefaults& defaults, const ImageSource& images,
                               TrainConfig c, ThreadPool& pool, const std::string& label = "train") {
  check_train_config(c);
  TrainResult result;
  TrainingSnapshot resumed;
  if (!c.resume.empty()) {
    resumed = load_snapshot(c.resume);
    result.model = resumed.model;
    c.seed = resumed.seed;
    c.batch = resumed.batch_size;
  } else {
    result.model = std::move(start);
    result.epochs = c.epochs.value_or(defaults.epochs);
  }
  result.seed = c.seed;
  result.batch = c.batch;
  const std::vector<int>& chw = result.model.frontend.input_shape;
  if (chw.size() != 3) throw Error(label, "the model does not say its input shape (channels, height, width)");
  nn::NetOptions options;
  options.seed = c.seed;
  // Data-parallel, a rank's net holds its slice of the batch (nn::train checks that it divides).
  const int ranks = c.collective ? c.collective->size() : 1;
  const int net_batch = c.batch % ranks == 0 ? c.batch / ranks : c.batch;
  options.input_shapes[result.model.frontend.input_blob] = {net_batch, chw[0], chw[1], chw[2]};
  options.input_shapes["label"] = {net_batch};
  const nn::SolverSpec s = c.resume.empty() ? solver_spec(c, defaults, images.size()) : resumed.solver;
  nn::TrainOptions t = training_options_for(c, result.model);

  // The same steps on either device: load the starting weights, restore a resumed solver, train
  // with snapshots, collect the weights.
  const bool rank0 = !c.collective || c.collective->rank() == 0;
  auto run = [&](auto& net, auto& solver, auto&& train_loop) {
    if (!c.resume.empty()) {
      net.load_weights(resumed.model.weights, c.resume);
      solver.restore(resumed.iteration, resumed.history);
    } else if (!c.init.empty()) {
      const auto loaded = net.load_weights(without_layers(load_weights(c.init), defaults.fresh_layers), c.init);
      if (c.show_progress && rank0) std::fprintf(stderr, "initialised %zu layers from %s\n", loaded.size(), c.init.c_str());
    } else if (!result.model.weights.empty()) {  // the recipe's own starting weights (a whitened first layer)
      net.load_weights(result.model.weights, label + " (starting weights)");
    }
    t.accuracy_blob = net.has_blob("accuracy") ? "accuracy" : "";
    // Every rank has the same weights: rank 0 writes them, and a failure there stops every rank
    // (the others would otherwise wait for it in the next exchange).
    auto snapshot = [&] {
      std::string problem;
      if (rank0) {
        try {
          TrainingSnapshot snap{result.model, s, solver.iteration(), c.seed, c.batch, solver.history()};
          snap.model.weights = net.weights();
          save_snapshot(snap, snapshot_path(c.snapshot, snap.iteration));
        } catch (const std::exception& e) {
          if (!c.collective) throw;
          problem = e.what();
        }
      }
      if (c.collective) c.collective->agree(label + ": snapshot", problem);
    };
    std::function<void(int)> after_step;
    if (!c.snapshot.empty() && c.snapshot_every > 0)
      after_step = [&](int it) {
        if (it % c.snapshot_every == 0 && it < s.max_iter) snapshot();
      };
    result.history = train_loop(after_step);
    if (!c.snapshot.empty()) snapshot();
    result.model.weights = net.weights();
  };

  if (c.device == "cuda") {
#ifdef DEEPHASH_WITH_CUDA
    const std::string m = resolved_math(c);
    const cuda::MathMode math = m == "tf32" ? cuda::MathMode::TF32 : m == "bf16" ? cuda::MathMode::BF16 : cuda::MathMode::FP32;
    cuda::GpuNet net(result.model.net, nn::Phase::Train, options, math);
    cuda::GpuSgdSolver solver(net, s);
    run(net, solver, [&](const std::function<void(int)>& after_step) {
      return cuda::train_on_gpu(net, solver, images, t, s.max_iter, pool, label, after_step);
    });
#else
    throw Error("device cuda", "this program was built without the GPU module (link deephash::cuda; configure with a CUDA toolkit)");
#endif
  } else {
    nn::Net<float> net(result.model.net, nn::Phase::Train, options);
    nn::SgdSolver<float> solver(net, s);
    run(net, solver, [&](const std::function<void(int)>& after_step) {
      return nn::train(net, solver, images, t, s.max_iter, pool, label, after_step);
    });
  }
  return result;
}

// Loss, training accuracy and learning rate over the iterations, as an SVG.
inline void write_training_curves(const nn::TrainingHistory& h, const std::string& path, const std::string& title) {
  std::vector<double> it(h.iteration.begin(), h.iteration.end()), lr;
  for (double r : h.learning_rate) lr.push_back(10 * r);
  write_line_plot_svg(path, {PlotSeries{"loss", it, h.loss}, PlotSeries{"training accuracy", it, h.accuracy},
                             PlotSeries{"learning rate x 10", it, lr}},
                      {title, "iteration", "", 720, 480, true});
}

}  // namespace deephash
