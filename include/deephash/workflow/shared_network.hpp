#pragma once
// Hash layers side by side on one network. Models that differ only above their rerank features —
// the code lengths of one recipe (workflow/recipe.hpp's SecondStage::once puts the 12- and 32-bit
// hash layers on the 48-bit model's features) — can encode a collection in one pass of the
// network instead of one pass per model: the network is nearly all of the work, the hash layers
// an inner product each. share_network() builds that one model; its latent blob holds every
// model's latent activations side by side, and a model's codes are its columns' bits.

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "deephash/io/container/model_file.hpp"
#include "deephash/nn/deploy.hpp"
#include "deephash/nn/hashing_model.hpp"

namespace deephash {

struct SharedNetwork {
  HashingModel model;        // the shared network with every model's hash layers on top
  std::vector<int> offsets;  // model i's latent activations are columns offsets[i] .. offsets[i + 1]
};

namespace detail {

// The part of `m` below its rerank features, as a model of its own (the features as its "latent"
// blob): two models share their network when these are the same, weights and input alike.
inline HashingModel network_below_features(const HashingModel& m, const nn::NetCut& cut) {
  HashingModel below;
  below.net = cut.below;
  std::set<std::string> layers;
  for (const nn::LayerSpec& l : cut.below.layers) layers.insert(l.name);
  for (const nn::LayerWeights& w : m.weights)
    if (layers.count(w.layer)) below.weights.push_back(w);
  below.frontend = m.frontend;
  below.frontend.latent_blob = m.frontend.feature_blob;
  return below;
}

// The latent blob's width: the outputs of the inner product (or Latent layer) that makes it,
// through any element-wise activation after it (KevinNet's sigmoid); 0 when another layer does.
inline int latent_units(const nn::NetSpec& head, std::string blob) {
  for (auto l = head.layers.rbegin(); l != head.layers.rend(); ++l) {
    if (std::find(l->tops.begin(), l->tops.end(), blob) == l->tops.end()) continue;
    if (l->type == "Latent") return l->latent.num_output;
    if (l->type == "InnerProduct") return l->inner_product.num_output;
    if (l->type != "Sigmoid" && l->type != "ReLU" && l->type != "TanH" && l->type != "Dropout") return 0;
    blob = l->bottoms.at(0);
  }
  return 0;
}

}  // namespace detail

// The models' shared network and their hash layers on it, or nothing when they do not share one:
// fewer than two models, no rerank features to cut at, or anything below the features (layers,
// weights, input transformation, test-time augmentation) differing between them. Each model's
// layers above its features that lead to its latent blob are renamed "head<i>/..." and read the
// shared features; a Concat layer puts their outputs side by side.
inline std::optional<SharedNetwork> share_network(const std::vector<const HashingModel*>& models) {
  if (models.size() < 2) return std::nullopt;
  const std::string features = models[0]->frontend.feature_blob;
  if (features.empty()) return std::nullopt;
  SharedNetwork shared;
  HashingModel& merged = shared.model;
  std::string network_digest;
  std::vector<std::string> head_outputs;
  shared.offsets.push_back(0);
  for (std::size_t i = 0; i < models.size(); ++i) {
    const HashingModel& m = *models[i];
    if (m.frontend.feature_blob != features || m.frontend.latent_blob == features) return std::nullopt;
    std::optional<nn::NetCut> cut;
    try {
      cut = nn::cut_at_blob(m.net, features, nn::Phase::Test, {});
    } catch (const Error&) {
      return std::nullopt;  // a layer above reads past the features: nothing to share
    }
    const HashingModel below = detail::network_below_features(m, *cut);
    const std::string digest = model_digest(below);
    if (i == 0) {
      network_digest = digest;
      merged = below;
    } else if (digest != network_digest) {
      return std::nullopt;
    }
    const nn::NetSpec head = nn::prune_for_outputs(cut->above, {m.frontend.latent_blob}, nn::Phase::Test);
    if (head.layers.empty()) return std::nullopt;
    const std::string prefix = "head" + std::to_string(i) + "/";
    const auto renamed = [&](const std::string& blob) { return blob == features ? blob : prefix + blob; };
    std::set<std::string> head_layers;
    for (nn::LayerSpec l : head.layers) {
      for (const std::string& top : l.tops)
        if (top == features) return std::nullopt;  // a head that rewrites the shared features in place
      head_layers.insert(l.name);
      l.name = prefix + l.name;
      for (std::string& b : l.bottoms) b = renamed(b);
      for (std::string& t : l.tops) t = renamed(t);
      merged.net.layers.push_back(std::move(l));
    }
    for (const nn::LayerWeights& w : m.weights)
      if (head_layers.count(w.layer)) merged.weights.push_back({prefix + w.layer, w.blobs});
    head_outputs.push_back(prefix + m.frontend.latent_blob);
    const int bits = detail::latent_units(head, m.frontend.latent_blob);
    if (bits <= 0) return std::nullopt;
    shared.offsets.push_back(shared.offsets.back() + bits);
  }
  nn::LayerSpec concat;
  concat.name = concat.tops.emplace_back("latent_side_by_side");
  concat.type = "Concat";
  concat.bottoms = head_outputs;
  merged.net.layers.push_back(std::move(concat));
  merged.frontend.latent_blob = "latent_side_by_side";
  merged.class_names = models[0]->class_names;
  merged.description = "the hash layers of " + std::to_string(models.size()) + " models on their shared network";
  return shared;
}

}  // namespace deephash
