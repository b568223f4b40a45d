#pragma once
// The structure of a network for one phase, apart from where its numbers live: which layer reads
// and writes which storage, where Splits go, which tops are losses, which layers run backward.
// The CPU Net and the CUDA module's GpuNet are both built on it, so they agree on every detail.
//
// Every production of a blob name is a separate version. A layer whose top repeats a bottom's
// name (Caffe's in-place ReLU, dropout, batch norm) shares that version's storage; a version read
// by several layers gets an inserted Split whose backward sums their gradients. Looking a name up
// gives its last version.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "deephash/nn/layer_factory.hpp"

namespace deephash::nn {

struct NetOptions {
  std::uint64_t seed = 1;  // parameter initialisation
  static NetOptions seeded(std::uint64_t seed) {
    NetOptions o;
    o.seed = seed;
    return o;
  }
  // Shapes for inputs the spec leaves open (Data layers) or to override (e.g. the batch size).
  std::map<std::string, std::vector<int>> input_shapes;
  // false: every layer writes its own output, so that each layer's result stays visible after a
  // forward (for comparisons with other implementations); uses more memory.
  bool allow_in_place = true;
};

class NetGraph {
 public:
  struct Input {
    std::string name;
    std::vector<int> shape;
    std::size_t storage;
  };
  struct Node {
    LayerSpec spec;
    std::vector<std::size_t> bottoms, tops;  // storages
    bool runs_backward = false;
    std::vector<bool> propagate;  // per bottom: whether backward writes its gradient
  };
  struct Loss {
    std::size_t storage;
    float weight;
  };

  NetGraph(const NetSpec& spec, Phase phase, const NetOptions& options = {}) : name_(spec.name) {
    auto input_shape = [&](const std::string& name, std::vector<int> declared) {
      const auto it = options.input_shapes.find(name);
      return it != options.input_shapes.end() ? it->second : declared;
    };
    for (std::size_t i = 0; i < spec.inputs.size(); ++i)
      add_input(spec.inputs[i], input_shape(spec.inputs[i], i < spec.input_shapes.size() ? spec.input_shapes[i] : std::vector<int>{}));

    // Layers of this phase, bottoms resolved to versions; in-place tops share their bottom's storage.
    struct Pending {
      LayerSpec spec;
      std::vector<std::size_t> bottoms, tops;  // versions
    };
    std::vector<Pending> pending;
    for (const LayerSpec& l : spec.layers) {
      if (l.phase && *l.phase != phase) continue;
      producer_ = pending.size();  // versions made now are produced after that many layers
      if (is_input_type(l.type)) {
        for (std::size_t t = 0; t < l.tops.size(); ++t)
          add_input(l.tops[t], input_shape(l.tops[t], t < l.input.shapes.size() ? l.input.shapes[t] : std::vector<int>{}));
        continue;
      }
      producer_ = pending.size() + 1;
      Pending p{l, {}, {}};
      for (const std::string& b : l.bottoms) {
        const auto it = latest_.find(b);
        if (it == latest_.end())
          throw Error("layer '" + l.name + "'", "input blob '" + b + "' is produced by no earlier layer or input");
        p.bottoms.push_back(it->second);
      }
      for (const std::string& t : l.tops) {
        std::size_t storage = storages_;
        for (std::size_t b = 0; b < l.bottoms.size(); ++b)
          if (l.bottoms[b] == t) storage = versions_[p.bottoms[b]].storage;
        if (storage == storages_) ++storages_;
        p.tops.push_back(add_version(t, storage));
      }
      pending.push_back(std::move(p));
    }

    // Fan out versions read by more than one layer.
    std::map<std::size_t, std::vector<std::pair<std::size_t, std::size_t>>> readers;  // version -> (layer, bottom)
    for (std::size_t li = 0; li < pending.size(); ++li)
      for (std::size_t b = 0; b < pending[li].bottoms.size(); ++b) readers[pending[li].bottoms[b]].push_back({li, b});
    std::map<std::size_t, std::vector<Pending>> splits_after;  // producer layer index + 1 (0: inputs)
    for (const auto& [version, who] : readers) {
      if (who.size() < 2) continue;
      Pending split{LayerSpec{}, {version}, {}};
      split.spec.type = "Split";
      split.spec.name = versions_[version].name + "_split_" + std::to_string(version);
      split.spec.bottoms = {versions_[version].name};
      for (std::size_t j = 0; j < who.size(); ++j) {
        const std::string top = split.spec.name + "_" + std::to_string(j);
        const std::size_t v = add_version(top, storages_++, /*latest=*/false);
        split.spec.tops.push_back(top);
        split.tops.push_back(v);
        Pending& reader = pending[who[j].first];
        reader.bottoms[who[j].second] = v;
        // A reader that ran in place on the fanned-out version now works in place on its own copy,
        // so that it cannot overwrite what the producer and the other readers still need.
        for (std::size_t t : reader.tops)
          if (versions_[t].storage == versions_[version].storage) versions_[t].storage = versions_[v].storage;
      }
      splits_after[versions_[version].producer_plus_one].push_back(std::move(split));
    }
    std::vector<Pending> ordered;
    for (std::size_t li = 0; li <= pending.size(); ++li) {
      for (Pending& s : splits_after[li]) ordered.push_back(std::move(s));
      if (li < pending.size()) ordered.push_back(std::move(pending[li]));
    }
    if (!options.allow_in_place) {
      // Found before any is moved: in a chain (fc6, relu6 and drop6 all writing `fc6`), moving
      // relu6's output would otherwise hide that drop6 too writes over fc6's.
      std::vector<std::size_t> in_place;
      for (const Pending& p : ordered)
        for (std::size_t t : p.tops)
          for (std::size_t b : p.bottoms)
            if (versions_[t].storage == versions_[b].storage) in_place.push_back(t);
      for (std::size_t t : in_place) versions_[t].storage = storages_++;  // later readers follow the version
    }
    for (Pending& p : ordered) {
      Node n{std::move(p.spec), {}, {}, false, {}};
      for (std::size_t v : p.bottoms) n.bottoms.push_back(versions_[v].storage);
      for (std::size_t v : p.tops) n.tops.push_back(versions_[v].storage);
      nodes_.push_back(std::move(n));
    }
    for (auto& in : inputs_) in.storage = versions_[in.storage].storage;
    plan_backward();
  }

  const std::string& name() const { return name_; }
  const std::vector<Input>& inputs() const { return inputs_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Loss>& losses() const { return losses_; }
  std::size_t num_storages() const { return storages_; }

  // The storage of the last version of a blob, or none.
  bool has_blob(const std::string& name) const { return latest_.count(name) != 0; }
  std::size_t storage_of(const std::string& name) const {
    const auto it = latest_.find(name);
    if (it == latest_.end()) throw Error("net '" + name_ + "'", "has no blob named '" + name + "'");
    return versions_[it->second].storage;
  }

 private:
  struct Version {
    std::string name;
    std::size_t storage;
    std::size_t producer_plus_one;  // 0 for net inputs
  };

  std::size_t add_version(const std::string& name, std::size_t storage, bool latest = true) {
    versions_.push_back({name, storage, producer_});
    if (latest) latest_[name] = versions_.size() - 1;
    return versions_.size() - 1;
  }
  void add_input(const std::string& name, const std::vector<int>& shape) {
    if (latest_.count(name)) throw Error("net '" + name_ + "'", "input '" + name + "' is declared twice");
    // `storage` holds the version until the storages are final.
    inputs_.push_back({name, shape, add_version(name, storages_++)});
  }

  // Which layers run backward and to which inputs, as Caffe decides it: a blob needs a gradient
  // if something learnable lies upstream of it, and a layer runs backward only if its outputs
  // reach a loss. Layer properties come from the layer classes themselves.
  void plan_backward() {
    std::vector<bool> needs(storages_, false), reaches_loss(storages_, false);
    std::vector<std::unique_ptr<Layer<float>>> layers;
    for (Node& n : nodes_) {
      layers.push_back(make_layer<float>(n.spec));
      const Layer<float>& l = *layers.back();
      for (std::size_t t = 0; t < n.tops.size(); ++t)
        for (std::size_t b = 0; b < n.bottoms.size(); ++b)
          if (n.tops[t] == n.bottoms[b] && !l.allows_in_place())
            throw Error("layer '" + n.spec.name + "'", "cannot run in place (top '" + n.spec.tops[t] + "' is also its input)");
      bool any = l.learnable();
      for (std::size_t b = 0; b < n.bottoms.size(); ++b) any |= needs[n.bottoms[b]] && l.can_propagate(b);
      for (std::size_t t = 0; t < n.tops.size(); ++t) {
        needs[n.tops[t]] = any;
        const float w = t < n.spec.loss_weights.size() ? n.spec.loss_weights[t] : l.default_loss_weight(t);
        if (w != 0) {
          losses_.push_back({n.tops[t], w});
          reaches_loss[n.tops[t]] = true;
        }
      }
    }
    for (std::size_t i = nodes_.size(); i-- > 0;) {
      Node& n = nodes_[i];
      bool reaches = false;
      for (std::size_t t : n.tops) reaches |= reaches_loss[t];
      n.propagate.assign(n.bottoms.size(), false);
      if (!reaches) continue;
      bool any_propagate = false;
      for (std::size_t b = 0; b < n.bottoms.size(); ++b) {
        n.propagate[b] = needs[n.bottoms[b]] && layers[i]->can_propagate(b);
        any_propagate |= n.propagate[b];
        reaches_loss[n.bottoms[b]] = true;
      }
      n.runs_backward = layers[i]->learnable() || any_propagate;
    }
  }

  std::string name_;
  std::vector<Input> inputs_;
  std::vector<Node> nodes_;
  std::vector<Loss> losses_;
  std::vector<Version> versions_;
  std::map<std::string, std::size_t> latest_;
  std::size_t storages_ = 0;
  std::size_t producer_ = 0;  // producer of the versions being added, while building
};

}  // namespace deephash::nn
