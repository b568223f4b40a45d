#pragma once
// Cutting a training network down to what computing some blobs needs: for encoding, the layers
// that lead to the latent (and feature) blobs, without labels, losses and accuracy.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/nn/layer_factory.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash::nn {

// The layers and inputs of `spec` (in `phase`) that the last versions of `outputs` depend on.
inline NetSpec prune_for_outputs(const NetSpec& spec, const std::vector<std::string>& outputs, Phase phase) {
  std::vector<const LayerSpec*> layers;
  for (const LayerSpec& l : spec.layers)
    if (!l.phase || *l.phase == phase) layers.push_back(&l);
  // Producer of each version read: -1 for a net-level input.
  std::map<std::string, int> latest;
  for (const std::string& in : spec.inputs) latest[in] = -1;
  std::vector<std::vector<int>> producers(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    for (const std::string& b : layers[i]->bottoms) {
      const auto it = latest.find(b);
      if (it == latest.end()) throw Error("layer '" + layers[i]->name + "'", "input blob '" + b + "' is produced by no earlier layer");
      producers[i].push_back(it->second);
    }
    for (const std::string& t : layers[i]->tops) latest[t] = is_input_type(layers[i]->type) ? -1 : int(i);
  }
  std::vector<bool> keep(layers.size(), false);
  std::set<std::string> inputs_needed;
  std::vector<int> todo;
  for (const std::string& o : outputs) {
    const auto it = latest.find(o);
    if (it == latest.end()) throw Error("net '" + spec.name + "'", "has no blob '" + o + "'");
    if (it->second < 0) inputs_needed.insert(o); else todo.push_back(it->second);
  }
  while (!todo.empty()) {
    const int i = todo.back();
    todo.pop_back();
    if (keep[std::size_t(i)]) continue;
    keep[std::size_t(i)] = true;
    for (std::size_t b = 0; b < producers[std::size_t(i)].size(); ++b) {
      const int p = producers[std::size_t(i)][b];
      if (p < 0) inputs_needed.insert(layers[std::size_t(i)]->bottoms[b]); else todo.push_back(p);
    }
  }
  NetSpec out;
  out.name = spec.name;
  for (std::size_t i = 0; i < spec.inputs.size(); ++i)
    if (inputs_needed.count(spec.inputs[i])) {
      out.inputs.push_back(spec.inputs[i]);
      if (i < spec.input_shapes.size()) out.input_shapes.push_back(spec.input_shapes[i]);
    }
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (keep[i]) {
      LayerSpec l = *layers[i];
      l.loss_weights.clear();
      l.phase.reset();
      if (l.type == "Latent") l.tops.resize(1);  // the SSDH loss is a training matter
      out.layers.push_back(std::move(l));
    } else if (is_input_type(layers[i]->type)) {
      // An input layer feeds the kept layers only through the tops they read.
      LayerSpec l = *layers[i];
      std::vector<std::string> tops;
      std::vector<std::vector<int>> shapes;
      for (std::size_t t = 0; t < l.tops.size(); ++t)
        if (inputs_needed.count(l.tops[t])) {
          tops.push_back(l.tops[t]);
          if (t < l.input.shapes.size()) shapes.push_back(l.input.shapes[t]);
        }
      if (tops.empty()) continue;
      l.tops = tops;
      l.input.shapes = shapes;
      l.phase.reset();
      out.layers.push_back(std::move(l));
    }
  return out;
}

}  // namespace deephash::nn
