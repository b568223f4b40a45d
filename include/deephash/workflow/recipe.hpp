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

// Trains the preset for these images (TrainConfig::arch) with its recipe. A resumed snapshot
// finishes the network's training, then takes the second stage too.
inline TrainResult train_hashing_model(const ImageSource& images, const TrainConfig& c, ThreadPool& pool,
                                       const std::string& label = "train") {
  check_train_config(c);
  const ArchitecturePreset preset = preset_for(images, c);
  TrainConfig network = c;
  if (preset.retrain_hash_layers) network.bits = std::max(c.bits, preset.network_bits);
  // The first stage's hash layers are replaced by the second's: they start from their fillers
  // even when the initial weights (c.init) have some, of whatever length.
  std::vector<std::string> fresh;
  if (preset.retrain_hash_layers) fresh = nn::hash_layer_names();
  TrainResult trained = c.resume.empty()
                            ? train_model(untrained_model(preset_for(images, network), images, network),
                                          {preset.epochs, 0.1f, fresh}, images, network, pool, label)
                            : train_model({}, {}, images, c, pool, label);
  if (!preset.retrain_hash_layers) return trained;
  // The second stage goes on with the network's seed and batch size (a resumed run's: the snapshot's).
  TrainConfig second = c;
  second.seed = trained.seed;
  second.batch = trained.batch;
  TrainResult hashed = retrain_hash_layers(trained.model, images, second, pool, label + ": hash layers", preset.second_stage);
  const double seconds = trained.history.seconds + hashed.history.seconds;
  // The curves are the network's, or the second stage's when a resumed snapshot left the
  // network no steps to take; the time is both stages'.
  if (!trained.history.iteration.empty()) hashed.history = std::move(trained.history);
  hashed.history.seconds = seconds;
  hashed.epochs = trained.epochs;
  return hashed;
}

}  // namespace deephash
