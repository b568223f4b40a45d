#pragma once
// Cutting a network into the parts that computing some blobs needs: for encoding, the layers that
// lead to the latent (and feature) blobs, without labels, losses and accuracy; for transfer
// learning, the backbone below a blob (run once per image) and the layers above it (trained on
// what the backbone gave).

#include <map>
#include <set>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/nn/layer_factory.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash::nn {

namespace detail {

// The layers of one phase and what each of their inputs reads: the layer that produced that
// version of the blob, or -1 for a net input.
struct LayerDependencies {
  std::vector<const LayerSpec*> layers;
  std::vector<std::vector<int>> producers;  // per layer, per bottom
  std::map<std::string, int> latest;        // the producer of each blob's last version

  LayerDependencies(const NetSpec& spec, Phase phase) {
    for (const LayerSpec& l : spec.layers)
      if (!l.phase || *l.phase == phase) layers.push_back(&l);
    for (const std::string& in : spec.inputs) latest[in] = -1;
    producers.resize(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
      for (const std::string& b : layers[i]->bottoms) {
        const auto it = latest.find(b);
        if (it == latest.end()) throw Error("layer '" + layers[i]->name + "'", "input blob '" + b + "' is produced by no earlier layer");
        producers[i].push_back(it->second);
      }
      for (const std::string& t : layers[i]->tops) latest[t] = is_input_type(layers[i]->type) ? -1 : int(i);
    }
  }

  // Which layers the last versions of `outputs` depend on, and the net inputs they read.
  std::vector<bool> needed_for(const std::vector<std::string>& outputs, const std::string& net_name,
                               std::set<std::string>& inputs_needed) const {
    std::vector<bool> keep(layers.size(), false);
    std::vector<int> todo;
    for (const std::string& o : outputs) {
      const auto it = latest.find(o);
      if (it == latest.end()) throw Error("net '" + net_name + "'", "has no blob '" + o + "'");
      if (it->second < 0) inputs_needed.insert(o); else todo.push_back(it->second);
    }
    while (!todo.empty()) {
      const std::size_t i = std::size_t(todo.back());
      todo.pop_back();
      if (keep[i]) continue;
      keep[i] = true;
      for (std::size_t b = 0; b < producers[i].size(); ++b) {
        const int p = producers[i][b];
        if (p < 0) inputs_needed.insert(layers[i]->bottoms[b]); else todo.push_back(p);
      }
    }
    return keep;
  }

  // A net of the kept layers and of the inputs in `inputs` (net-level ones with their shapes,
  // Input layers cut down to those tops).
  NetSpec assemble(const NetSpec& spec, const std::vector<bool>& keep, const std::set<std::string>& inputs) const {
    NetSpec out;
    out.name = spec.name;
    for (std::size_t i = 0; i < spec.inputs.size(); ++i)
      if (inputs.count(spec.inputs[i])) {
        out.inputs.push_back(spec.inputs[i]);
        if (i < spec.input_shapes.size()) out.input_shapes.push_back(spec.input_shapes[i]);
      }
    for (std::size_t i = 0; i < layers.size(); ++i) {
      LayerSpec l = *layers[i];
      l.phase.reset();
      if (is_input_type(l.type)) {
        std::vector<std::string> tops;
        std::vector<std::vector<int>> shapes;
        for (std::size_t t = 0; t < l.tops.size(); ++t)
          if (inputs.count(l.tops[t])) {
            tops.push_back(l.tops[t]);
            if (t < l.input.shapes.size()) shapes.push_back(l.input.shapes[t]);
          }
        if (tops.empty()) continue;
        l.tops = tops;
        l.input.shapes = shapes;
        out.layers.push_back(std::move(l));
      } else if (keep[i]) {
        out.layers.push_back(std::move(l));
      }
    }
    return out;
  }
};

}  // namespace detail

// The layers and inputs of `spec` (in `phase`) that the last versions of `outputs` depend on,
// as an inference net: no loss weights, and the latent layer without its SSDH loss.
inline NetSpec prune_for_outputs(const NetSpec& spec, const std::vector<std::string>& outputs, Phase phase) {
  const detail::LayerDependencies deps(spec, phase);
  std::set<std::string> inputs;
  NetSpec out = deps.assemble(spec, deps.needed_for(outputs, spec.name, inputs), inputs);
  for (LayerSpec& l : out.layers) {
    l.loss_weights.clear();
    if (l.type == "Latent") l.tops.resize(1);  // the SSDH loss is a training matter
  }
  return out;
}

// The same, keeping the layers as they are (losses included): a training net without the
// layers that none of `outputs` needs.
inline NetSpec keep_needed_for(const NetSpec& spec, const std::vector<std::string>& outputs, Phase phase) {
  const detail::LayerDependencies deps(spec, phase);
  std::set<std::string> inputs;
  return deps.assemble(spec, deps.needed_for(outputs, spec.name, inputs), inputs);
}

// A network cut at one blob: `below` computes the blob's last version from the net's inputs,
// `above` is every other layer of the phase, reading the blob as a net input instead.
struct NetCut {
  NetSpec below, above;
};

// Cuts `spec` (in `phase`) at `blob`, whose values per item have shape `item_shape`. The layers
// above may read no blob of the part below but `blob` itself (its last version): a layer that
// does (a skip connection across the cut) is an error naming it.
inline NetCut cut_at_blob(const NetSpec& spec, const std::string& blob, Phase phase, const std::vector<int>& item_shape) {
  const detail::LayerDependencies deps(spec, phase);
  std::set<std::string> below_inputs;
  const std::vector<bool> below = deps.needed_for({blob}, spec.name, below_inputs);
  const int blob_producer = deps.latest.at(blob);
  std::set<std::string> above_inputs;
  std::vector<bool> above(deps.layers.size(), false);
  for (std::size_t i = 0; i < deps.layers.size(); ++i) {
    if (below[i] || is_input_type(deps.layers[i]->type)) continue;
    above[i] = true;
    for (std::size_t b = 0; b < deps.producers[i].size(); ++b) {
      const std::string& name = deps.layers[i]->bottoms[b];
      const int p = deps.producers[i][b];
      const bool reads_below = p >= 0 ? bool(below[std::size_t(p)]) : below_inputs.count(name) > 0;
      if (!reads_below) {
        if (p < 0) above_inputs.insert(name);
      } else if (name != blob || p != blob_producer) {
        throw Error("layer '" + deps.layers[i]->name + "'",
                    "reads '" + name + "' from below the cut at '" + blob + "': every layer above it must go through '" + blob + "'");
      }
    }
  }
  NetCut cut{deps.assemble(spec, below, below_inputs), deps.assemble(spec, above, above_inputs)};
  std::vector<int> shape = {1};
  shape.insert(shape.end(), item_shape.begin(), item_shape.end());
  cut.above.inputs.insert(cut.above.inputs.begin(), blob);
  // Net-level inputs keep their shapes in step with their names.
  cut.above.input_shapes.resize(cut.above.inputs.size() - 1);
  cut.above.input_shapes.insert(cut.above.input_shapes.begin(), shape);
  return cut;
}

}  // namespace deephash::nn
