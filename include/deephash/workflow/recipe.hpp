#pragma once
// A preset's whole recipe, the way `deephash train` runs it without --prototxt: the preset's
// network trained from scratch (workflow/training.hpp) and, for a two-stage preset, new hash
// layers of the requested length (with the layers just below them) trained on its frozen
// features (workflow/transfer.hpp).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "deephash/data/batch_stream.hpp"
#include "deephash/data/subset_source.hpp"
#include "deephash/nn/patch_whitening.hpp"
#include "deephash/workflow/training.hpp"
#include "deephash/workflow/transfer.hpp"

namespace deephash {

// Starts `layer` of the untrained `model` (a convolution without bias on the input blob) as the
// whitening of the patches of up to `sample` training images, evenly spaced over the source and
// transformed as for testing, and freezes it (learning-rate multiplier 0).
inline void whiten_first_layer(HashingModel& model, const std::string& layer, const ImageSource& images, ThreadPool& pool,
                               std::size_t sample = 5000) {
  auto spec = std::find_if(model.net.layers.begin(), model.net.layers.end(), [&](const nn::LayerSpec& l) { return l.name == layer; });
  if (spec == model.net.layers.end() || spec->type != "Convolution" || spec->convolution.bias_term ||
      spec->convolution.kernel_h != spec->convolution.kernel_w)
    throw Error("whitened layer " + layer, "is not a square convolution without bias in the network");
  const std::vector<int>& chw = model.frontend.input_shape;
  const TransformSpec& transform = model.frontend.transform;
  const std::size_t count = std::min(sample, images.size());
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = i * images.size() / count;
  const std::size_t per_image = std::size_t(chw[0]) * chw[1] * chw[2];
  std::vector<float> inputs(count * per_image);
  BatchStream stream(images, std::move(order), 256, nn::training_decode_options(transform, chw[0]), 1, 2);
  DecodedBatch batch;
  for (std::size_t done = 0; stream.next(batch); done += batch.view().count)
    nn::prepare_batch(batch.view(), transform, pool, inputs.data() + done * per_image);
  const nn::ConvolutionSpec& conv = spec->convolution;
  const std::vector<float> filters = nn::patch_whitening_filters(inputs.data(), count, chw[0], chw[1], chw[2], conv.kernel_h,
                                                                 conv.num_output);
  model.weights = {{layer, {{{conv.num_output, chw[0], conv.kernel_h, conv.kernel_w}, filters}}}};
  spec->params.resize(1);
  spec->params[0].lr_mult = 0;
  spec->params[0].decay_mult = 0;
}

// The preset's untrained network as its recipe starts it: with its whitened first layer, if it
// has one and c.init does not give the weights.
inline HashingModel starting_model(const ArchitecturePreset& preset, const ImageSource& images, const TrainConfig& c,
                                   ThreadPool& pool) {
  HashingModel start = untrained_model(preset, images, c);
  if (!preset.whitened_layer.empty() && c.init.empty()) whiten_first_layer(start, preset.whitened_layer, images, pool);
  return start;
}

// What a pilot of the training plans for the recipe's time budget (c.minutes, else the preset's).
struct BudgetPlan {
  double epochs = 0;  // of the network's training
  std::string math;   // c.math, or for "auto" on a CPU with bf16 products the faster of fp32 and bf16
  double step_seconds = 0;                                // a step's time with `math`
  double fp32_step_seconds = 0, bf16_step_seconds = 0;  // both timed for "auto" (else 0)
};

namespace detail {

// A step's typical time from the clock readings after consecutive steps: the mean step, leaving
// out steps slower than 1.5 times the median (slowed by something else on the machine), so that
// a moment's interference does not shrink a plan; the median alone would promise too much, since
// steps vary by a few percent on their own.
inline double typical_step_seconds(const std::vector<double>& ends) {
  if (ends.size() < 2) throw Error("train", "the pilot of the time budget ran no timed steps");
  std::vector<double> steps(ends.size() - 1);
  for (std::size_t i = 0; i + 1 < ends.size(); ++i) steps[i] = ends[i + 1] - ends[i];
  std::vector<double> sorted = steps;
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() / 2), sorted.end());
  const double median = sorted[sorted.size() / 2];
  double sum = 0;
  int kept = 0;
  for (double t : steps)
    if (t <= 1.5 * median) sum += t, ++kept;
  return sum / kept;
}

// The seconds a step of `start`'s training takes with c's settings, timed on a pilot of the
// training itself: steps on the first images, the first few (memory and decoding warming up)
// not counted.
inline double pilot_step_seconds(const ArchitecturePreset& preset, const HashingModel& start, const ImageSource& images,
                                 const TrainConfig& c, ThreadPool& pool) {
  constexpr int kWarmup = 4, kTimed = 16;
  const std::size_t n = std::min(images.size(), std::size_t(c.batch) * (kWarmup + kTimed));
  std::vector<std::size_t> first(n);
  std::iota(first.begin(), first.end(), std::size_t(0));
  const SubsetSource pilot_images(borrowed_source(images), std::move(first), images.spec());
  TrainConfig pilot = c;
  pilot.epochs = double(kWarmup + kTimed) * c.batch / double(n);
  pilot.show_progress = false;
  pilot.snapshot.clear();
  std::vector<double> ends;  // p.seconds after steps kWarmup .. kWarmup + kTimed
  pilot.on_step = [&](const nn::TrainingProgress& p) {
    if (p.iteration >= kWarmup && p.iteration <= kWarmup + kTimed) ends.push_back(p.seconds);
  };
  train_model(start, {preset.epochs, 0.1f, nn::hash_layer_names()}, pilot_images, pilot, pool, "pilot");
  return typical_step_seconds(ends);
}

}  // namespace detail

// The epochs of the network's training that fit the budget: a pilot's seconds per step times
// the steps of an epoch, the second stage counted as the preset's second_stage_in_epochs epochs;
// whole half epochs, at least one, at most twice the preset's. With c.math "auto" on a CPU that
// has bf16 products, the pilot runs in fp32 and in bf16 and the faster is kept: bf16 halves the
// products' operands, but where the CPU issues its bf16 dot products at half the rate of its
// float multiply-adds (Intel's Sapphire Rapids) it buys no arithmetic and costs conversions.
// Nothing when there is no budget or the epochs are given (the run is then the same on every
// machine, "auto" the CPU's bf16 where it has it), and for a run that resumes, is data-parallel
// (its ranks would have to agree on one timing) or trains on the GPU.
inline std::optional<BudgetPlan> plan_within_budget(const ArchitecturePreset& preset, const HashingModel& start,
                                                    const ImageSource& images, const TrainConfig& c, ThreadPool& pool) {
  const double minutes = c.minutes.value_or(preset.minutes);
  if (!(minutes > 0) || c.epochs || !c.resume.empty() || c.collective || c.device != "cpu" || images.size() == 0)
    return std::nullopt;
  BudgetPlan plan;
  plan.math = c.math;
  if (c.math == "auto" && nn::bf16::available()) {
    TrainConfig fp32 = c, bf16 = c;
    fp32.math = "fp32";
    bf16.math = "bf16";
    plan.fp32_step_seconds = detail::pilot_step_seconds(preset, start, images, fp32, pool);
    plan.bf16_step_seconds = detail::pilot_step_seconds(preset, start, images, bf16, pool);
    plan.math = plan.bf16_step_seconds < plan.fp32_step_seconds ? "bf16" : "fp32";
    plan.step_seconds = std::min(plan.fp32_step_seconds, plan.bf16_step_seconds);
    if (c.show_progress)
      std::fprintf(stderr, "math auto: %s (a step took %.3f s in fp32, %.3f s with bf16 products)\n", plan.math.c_str(),
                   plan.fp32_step_seconds, plan.bf16_step_seconds);
  } else {
    plan.step_seconds = detail::pilot_step_seconds(preset, start, images, c, pool);
  }
  const double epoch_seconds = plan.step_seconds * std::ceil(double(images.size()) / c.batch);
  const double fit = minutes * 60 / epoch_seconds - preset.second_stage_in_epochs;
  plan.epochs = std::clamp(std::floor(2 * fit) / 2, 1.0, 2 * preset.epochs);
  if (c.show_progress)
    std::fprintf(stderr, "time budget %g minutes: %g epochs (a step of %d images took %.3f s on a pilot)\n", minutes,
                 plan.epochs, c.batch, plan.step_seconds);
  return plan;
}

// Trains the preset for these images (TrainConfig::arch) with its recipe, one model per code
// length in `bit_lengths` (c.bits is ignored). A two-stage preset trains its network once and
// takes the second stage once per length (minutes each, against the network's tens of minutes),
// or with SecondStage::once at the longest length only, the others as hash layers on its
// features; a one-stage preset trains a network per length. A resumed snapshot finishes the
// network's training, then takes the second stages too. The results' times are each model's
// own: the network's training plus the stages it needed.
inline std::vector<TrainResult> train_hashing_models(const ImageSource& images, const TrainConfig& c,
                                                     const std::vector<int>& bit_lengths, ThreadPool& pool,
                                                     const std::string& label = "train") {
  if (bit_lengths.empty()) throw Error(label, "no code length to train");
  for (std::size_t i = 0; i < bit_lengths.size(); ++i)
    if (std::count(bit_lengths.begin(), bit_lengths.begin() + std::ptrdiff_t(i), bit_lengths[i]))
      throw Error(label, "the code length " + std::to_string(bit_lengths[i]) + " is listed twice");
  for (int bits : bit_lengths) {
    TrainConfig one = c;
    one.bits = bits;
    check_train_config(one);
  }
  TrainConfig network = c;
  network.bits = *std::max_element(bit_lengths.begin(), bit_lengths.end());
  const ArchitecturePreset preset = preset_for(images, network);
  std::vector<TrainResult> results;
  std::string math = c.math;  // the network's, kept for the second stage
  auto train_network = [&](TrainConfig config, const std::vector<std::string>& fresh, const std::string& what) {
    if (!config.resume.empty()) return train_model({}, {}, images, config, pool, what);
    HashingModel start = starting_model(preset_for(images, config), images, config, pool);
    if (const std::optional<BudgetPlan> plan = plan_within_budget(preset, start, images, config, pool)) {
      config.epochs = plan->epochs;
      config.math = math = plan->math;
    }
    return train_model(std::move(start), {preset.epochs, 0.1f, fresh}, images, config, pool, what);
  };
  if (!preset.retrain_hash_layers) {
    if (!c.resume.empty() && bit_lengths.size() > 1)
      throw Error(c.resume, "a snapshot resumes one network, of one code length: give one length");
    for (int bits : bit_lengths) {
      TrainConfig one = c;
      one.bits = bits;
      results.push_back(train_network(one, {}, bit_lengths.size() > 1 ? label + " " + std::to_string(bits) + " bits" : label));
    }
    return results;
  }
  network.bits = std::max(network.bits, preset.network_bits);
  // The first stage's hash layers are replaced by the second's: they start from their fillers
  // even when the initial weights (c.init) have some, of whatever length.
  const TrainResult trained = train_network(network, nn::hash_layer_names(), label);
  // The second stage goes on with the network's seed and batch size (a resumed run's: the snapshot's).
  TrainConfig second = c;
  second.seed = trained.seed;
  second.batch = trained.batch;
  second.math = math;
  const int longest = *std::max_element(bit_lengths.begin(), bit_lengths.end());
  std::vector<int> others;  // the lengths of hash layers on the longest's features (SecondStage::once)
  for (int bits : bit_lengths)
    if (preset.second_stage.once && bits != longest) others.push_back(bits);
  FrozenPart frozen;  // the network's values at the second stage's frozen blob, for the shorter codes' stage too
  results = retrain_hash_layers(trained.model, images, second, others.empty() ? bit_lengths : std::vector<int>{longest}, pool,
                                label + ": hash layers", preset.second_stage, &frozen);
  if (!others.empty()) {
    SecondStage heads = preset.second_stage;
    heads.frozen_below.clear();
    std::vector<TrainResult> more = retrain_hash_layers(results.front().model, images, second, others, pool,
                                                        label + ": hash layers on " + std::to_string(longest) + " bits'", heads,
                                                        &frozen);
    for (TrainResult& r : more) r.history.seconds += results.front().history.seconds;  // it needs the longest's stage
    std::vector<TrainResult> ordered;  // back in bit_lengths' order: `others` keeps it
    std::size_t next = 0;
    for (int bits : bit_lengths) ordered.push_back(std::move(bits == longest ? results.front() : more[next++]));
    results = std::move(ordered);
  }
  for (TrainResult& hashed : results) {
    const double seconds = trained.history.seconds + hashed.history.seconds;
    // The curves are the network's, or the second stage's when a resumed snapshot left the
    // network no steps to take; the time is both stages'.
    if (!trained.history.iteration.empty()) hashed.history = trained.history;
    hashed.history.seconds = seconds;
    hashed.epochs = trained.epochs;
  }
  return results;
}

// The same for one code length, c.bits.
inline TrainResult train_hashing_model(const ImageSource& images, const TrainConfig& c, ThreadPool& pool,
                                       const std::string& label = "train") {
  return std::move(train_hashing_models(images, c, {c.bits}, pool, label).front());
}

}  // namespace deephash
