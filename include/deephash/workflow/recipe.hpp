#pragma once
// A preset's whole recipe, the way `deephash train` runs it without --prototxt: the preset's
// network trained from scratch (workflow/training.hpp) and, for a two-stage preset, new hash
// layers of the requested length (with the layers just below them) trained on its frozen
// features (workflow/transfer.hpp).

#include <algorithm>
#include <string>
#include <vector>

#include "deephash/workflow/training.hpp"
#include "deephash/workflow/transfer.hpp"

namespace deephash {

// Trains the preset for these images (TrainConfig::arch) with its recipe, one model per code
// length in `bit_lengths` (c.bits is ignored). A two-stage preset trains its network once and
// takes the second stage once per length (minutes each, against the network's tens of minutes);
// a one-stage preset trains a network per length. A resumed snapshot finishes the network's
// training, then takes the second stages too. The results' times are each model's own: the
// network's training plus its second stage.
inline std::vector<TrainResult> train_hashing_models(const ImageSource& images, const TrainConfig& c,
                                                     const std::vector<int>& bit_lengths, ThreadPool& pool,
                                                     const std::string& label = "train") {
  if (bit_lengths.empty()) throw Error(label, "no code length to train");
  for (int bits : bit_lengths) {
    TrainConfig one = c;
    one.bits = bits;
    check_train_config(one);
  }
  TrainConfig network = c;
  network.bits = *std::max_element(bit_lengths.begin(), bit_lengths.end());
  const ArchitecturePreset preset = preset_for(images, network);
  std::vector<TrainResult> results;
  auto train_network = [&](const TrainConfig& config, const std::vector<std::string>& fresh, const std::string& what) {
    return config.resume.empty() ? train_model(untrained_model(preset_for(images, config), images, config),
                                               {preset.epochs, 0.1f, fresh}, images, config, pool, what)
                                 : train_model({}, {}, images, config, pool, what);
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
  results = retrain_hash_layers(trained.model, images, second, bit_lengths, pool, label + ": hash layers", preset.second_stage);
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
