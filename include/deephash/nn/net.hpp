#pragma once
// A network is a graph of named blobs, as in Caffe: layers declare bottoms and tops by name and
// run in the order given. Internally each production of a name is a separate version (so a
// name may be rewritten in place, as `relu1` does to `conv1`), and a version read by several
// layers is fanned out by an inserted Split, whose backward sums the gradients. Looking a name up
// gives its last version.

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "deephash/nn/layer_factory.hpp"

namespace deephash::nn {

// A learnable parameter blob and its multipliers (as seen by the solver).
template <class Scalar>
struct LearnableParam {
  Blob<Scalar>* blob;
  ParamSpec spec;
  std::string owner;  // layer name, for messages and model files
  std::size_t index;  // position among the owner's blobs
};

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

template <class Scalar>
class Net {
 public:
  using BlobType = Blob<Scalar>;

  Net(const NetSpec& spec, Phase phase, const NetOptions& options = {}) : name_(spec.name), phase_(phase) {
    std::mt19937_64 rng(options.seed);
    auto input_shape = [&](const std::string& name, std::vector<int> declared) {
      const auto it = options.input_shapes.find(name);
      return it != options.input_shapes.end() ? it->second : declared;
    };
    for (std::size_t i = 0; i < spec.inputs.size(); ++i)
      add_input(spec.inputs[i], input_shape(spec.inputs[i], i < spec.input_shapes.size() ? spec.input_shapes[i] : std::vector<int>{}));

    // Layers of this phase, bottoms resolved to versions; in-place tops share their bottom's storage.
    struct Pending {
      LayerSpec spec;
      std::vector<std::size_t> bottoms, tops;
    };
    std::vector<Pending> pending;
    for (const LayerSpec& l : spec.layers) {
      if (l.phase && *l.phase != phase) continue;
      layer_count_hint_ = pending.size();  // versions made now are produced after that many layers
      if (is_input_type(l.type)) {
        for (std::size_t t = 0; t < l.tops.size(); ++t)
          add_input(l.tops[t], input_shape(l.tops[t], t < l.input.shapes.size() ? l.input.shapes[t] : std::vector<int>{}));
        continue;
      }
      layer_count_hint_ = pending.size() + 1;
      Pending p{l, {}, {}};
      for (const std::string& b : l.bottoms) {
        const auto it = latest_.find(b);
        if (it == latest_.end())
          throw Error("layer '" + l.name + "'", "input blob '" + b + "' is produced by no earlier layer or input");
        p.bottoms.push_back(it->second);
      }
      for (const std::string& t : l.tops) {
        std::size_t storage = storages_.size();
        for (std::size_t b = 0; b < l.bottoms.size(); ++b)
          if (l.bottoms[b] == t) storage = versions_[p.bottoms[b]].storage;
        if (storage == storages_.size()) storages_.push_back(std::make_unique<BlobType>());
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
        storages_.push_back(std::make_unique<BlobType>());
        const std::size_t v = add_version(top, storages_.size() - 1, /*latest=*/false);
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
    for (std::size_t li = 0; li <= pending.size(); ++li) {
      for (Pending& s : splits_after[li]) add_layer(std::move(s.spec), s.bottoms, s.tops);
      if (li < pending.size()) add_layer(std::move(pending[li].spec), pending[li].bottoms, pending[li].tops);
    }
    if (!options.allow_in_place) separate_in_place_outputs();

    // Set up in order (parameter shapes follow from the input shapes), then plan the backward pass.
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      if (!layers_[i]->allows_in_place())
        for (std::size_t t = 0; t < tops_[i].size(); ++t)
          for (std::size_t b = 0; b < bottoms_[i].size(); ++b)
            if (versions_[tops_[i][t]].storage == versions_[bottoms_[i][b]].storage)
              throw Error("layer '" + layers_[i]->name() + "'", "cannot run in place (top '" +
                                                                   versions_[tops_[i][t]].name + "' is also its input)");
      layers_[i]->setup(bottom_blobs(i), rng);
      layers_[i]->reshape(bottom_blobs(i), top_blobs(i));
    }
    plan_backward();
  }

  const std::string& name() const { return name_; }
  Phase phase() const { return phase_; }
  const std::vector<std::string>& input_names() const { return inputs_; }

  bool has_blob(const std::string& name) const { return latest_.count(name) != 0; }
  // The last version of a blob.
  BlobType& blob(const std::string& name) {
    const auto it = latest_.find(name);
    if (it == latest_.end()) throw Error("net '" + name_ + "'", "has no blob named '" + name + "'");
    return *storages_[versions_[it->second].storage];
  }

  std::size_t num_layers() const { return layers_.size(); }
  Layer<Scalar>& layer(std::size_t i) { return *layers_[i]; }
  Layer<Scalar>* find_layer(const std::string& name) {
    for (auto& l : layers_)
      if (l->name() == name) return l.get();
    return nullptr;
  }
  // The inputs and outputs of layer i (a layer that ran in place shares storage with its input).
  std::vector<BlobType*> layer_inputs(std::size_t i) { return bottom_blobs(i); }
  std::vector<BlobType*> layer_outputs(std::size_t i) { return top_blobs(i); }

  // Propagates input shapes through the layers; forward() does this too.
  void reshape() {
    for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->reshape(bottom_blobs(i), top_blobs(i));
  }

  // Runs every layer; returns the weighted sum of the losses.
  Scalar forward(const RunContext& ctx) {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const auto bottom = bottom_blobs(i), top = top_blobs(i);
      layers_[i]->reshape(bottom, top);
      layers_[i]->forward(bottom, top, ctx);
    }
    Scalar loss = 0;
    for (const LossTop& l : losses_) {
      const BlobType& b = *storages_[versions_[l.version].storage];
      for (std::size_t j = 0; j < b.count(); ++j) loss += Scalar(l.weight) * b.data()[j];
    }
    return loss;
  }

  // Gradients of the loss: bottom diffs everywhere, parameter diffs added to (see zero_param_diffs).
  void backward(const RunContext& ctx) {
    for (auto& s : storages_) s->zero_diff();
    for (const LossTop& l : losses_) {
      BlobType& b = *storages_[versions_[l.version].storage];
      std::fill(b.diff(), b.diff() + b.count(), Scalar(l.weight));
    }
    for (std::size_t i = layers_.size(); i-- > 0;)
      if (runs_backward_[i]) layers_[i]->backward(top_blobs(i), propagate_[i], bottom_blobs(i), ctx);
  }

  void zero_param_diffs() {
    for (auto& l : layers_)
      for (auto& p : l->params()) p->zero_diff();
  }

  std::vector<LearnableParam<Scalar>> learnable_params() {
    std::vector<LearnableParam<Scalar>> out;
    for (auto& l : layers_)
      for (std::size_t j = 0; j < l->params().size(); ++j)
        out.push_back({l->params()[j].get(), l->param_spec(j), l->name(), j});
    return out;
  }

  // Every layer's parameter blobs, by layer name (what a model file or .caffemodel stores).
  std::vector<LayerWeights> weights() const {
    std::vector<LayerWeights> out;
    for (const auto& l : layers_) {
      if (l->params().empty()) continue;
      LayerWeights w{l->name(), {}};
      for (const auto& p : l->params())
        w.blobs.push_back({p->shape(), std::vector<float>(p->data(), p->data() + p->count())});
      out.push_back(std::move(w));
    }
    return out;
  }

  // Copies weights into the layers of the same name. A blob may come in another shape with the
  // same number of elements (old Caffe files store 4-D dims for everything). Layers of the net
  // without weights keep their initialisation; weights of layers the net lacks are ignored.
  // Returns the names of the layers that were loaded.
  std::vector<std::string> load_weights(const std::vector<LayerWeights>& weights, const std::string& source) {
    std::vector<std::string> loaded;
    for (const LayerWeights& w : weights) {
      Layer<Scalar>* l = find_layer(w.layer);
      if (!l) continue;
      if (w.blobs.size() != l->params().size())
        throw Error(source, "layer '" + w.layer + "' has " + std::to_string(l->params().size()) +
                                " parameter blobs in the net but " + std::to_string(w.blobs.size()) + " in the weights");
      for (std::size_t j = 0; j < w.blobs.size(); ++j) {
        BlobType& p = *l->params()[j];
        if (w.blobs[j].data.size() != p.count())
          throw Error(source, "layer '" + w.layer + "' blob " + std::to_string(j) + ": the net expects " +
                                  shape_text(p.shape()) + " (" + std::to_string(p.count()) + " values), the weights hold " +
                                  shape_text(w.blobs[j].shape) + " (" + std::to_string(w.blobs[j].data.size()) + " values)");
        std::copy(w.blobs[j].data.begin(), w.blobs[j].data.end(), p.data());
      }
      loaded.push_back(w.layer);
    }
    return loaded;
  }

 private:
  struct Version {
    std::string name;
    std::size_t storage;
    std::size_t producer_plus_one;  // 0 for net inputs
  };
  struct LossTop {
    std::size_t version;
    float weight;
  };

  std::size_t add_version(const std::string& name, std::size_t storage, bool latest = true) {
    versions_.push_back({name, storage, layer_count_hint_});
    if (latest) latest_[name] = versions_.size() - 1;
    return versions_.size() - 1;
  }
  void add_input(const std::string& name, const std::vector<int>& shape) {
    if (latest_.count(name)) throw Error("net '" + name_ + "'", "input '" + name + "' is declared twice");
    storages_.push_back(std::make_unique<BlobType>(shape));
    add_version(name, storages_.size() - 1);
    inputs_.push_back(name);
  }
  void add_layer(LayerSpec spec, const std::vector<std::size_t>& bottoms, const std::vector<std::size_t>& tops) {
    layers_.push_back(make_layer<Scalar>(spec));
    bottoms_.push_back(bottoms);
    tops_.push_back(tops);
  }
  // Gives every layer that ran in place an output storage of its own.
  void separate_in_place_outputs() {
    // Found before any is moved: in a chain (fc6, relu6 and drop6 all writing `fc6`), moving
    // relu6's output would otherwise hide that drop6 too writes over fc6's.
    std::vector<std::size_t> in_place;
    for (std::size_t i = 0; i < layers_.size(); ++i)
      for (std::size_t t : tops_[i])
        for (std::size_t b : bottoms_[i])
          if (versions_[t].storage == versions_[b].storage) in_place.push_back(t);
    for (std::size_t t : in_place) {
      // Later readers of this version follow it to the new storage.
      storages_.push_back(std::make_unique<BlobType>());
      versions_[t].storage = storages_.size() - 1;
    }
  }

  std::vector<BlobType*> bottom_blobs(std::size_t i) {
    std::vector<BlobType*> out;
    for (std::size_t v : bottoms_[i]) out.push_back(storages_[versions_[v].storage].get());
    return out;
  }
  std::vector<BlobType*> top_blobs(std::size_t i) {
    std::vector<BlobType*> out;
    for (std::size_t v : tops_[i]) out.push_back(storages_[versions_[v].storage].get());
    return out;
  }

  // Which layers run backward and to which inputs, as Caffe decides it: a blob needs a gradient
  // if something learnable lies upstream of it, and a layer runs backward only if its outputs
  // reach a loss.
  void plan_backward() {
    std::vector<bool> needs(versions_.size(), false), reaches_loss(versions_.size(), false);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      bool any = false;
      for (std::size_t j = 0; j < layers_[i]->params().size(); ++j) any |= layers_[i]->param_spec(j).lr_mult != 0;
      for (std::size_t b = 0; b < bottoms_[i].size(); ++b) any |= needs[bottoms_[i][b]] && layers_[i]->can_propagate(b);
      for (std::size_t t = 0; t < tops_[i].size(); ++t) {
        needs[tops_[i][t]] = any;
        const LayerSpec& s = layers_[i]->spec();
        const float w = t < s.loss_weights.size() ? s.loss_weights[t] : layers_[i]->default_loss_weight(t);
        if (w != 0) {
          losses_.push_back({tops_[i][t], w});
          reaches_loss[tops_[i][t]] = true;
        }
      }
    }
    runs_backward_.assign(layers_.size(), false);
    propagate_.assign(layers_.size(), {});
    for (std::size_t i = layers_.size(); i-- > 0;) {
      bool reaches = false;
      for (std::size_t t : tops_[i]) reaches |= reaches_loss[t];
      propagate_[i].assign(bottoms_[i].size(), false);
      if (!reaches) continue;
      bool learnable = false;
      for (std::size_t j = 0; j < layers_[i]->params().size(); ++j) learnable |= layers_[i]->param_spec(j).lr_mult != 0;
      for (std::size_t b = 0; b < bottoms_[i].size(); ++b) {
        propagate_[i][b] = needs[bottoms_[i][b]] && layers_[i]->can_propagate(b);
        reaches_loss[bottoms_[i][b]] = true;
      }
      bool any_propagate = false;
      for (bool p : propagate_[i]) any_propagate |= p;
      runs_backward_[i] = learnable || any_propagate;
    }
  }

  std::string name_;
  Phase phase_;
  std::vector<std::string> inputs_;
  std::vector<std::unique_ptr<BlobType>> storages_;
  std::vector<Version> versions_;
  std::map<std::string, std::size_t> latest_;
  std::vector<std::unique_ptr<Layer<Scalar>>> layers_;
  std::vector<std::vector<std::size_t>> bottoms_, tops_;
  std::vector<LossTop> losses_;
  std::vector<bool> runs_backward_;
  std::vector<std::vector<bool>> propagate_;
  std::size_t layer_count_hint_ = 0;  // producer of the versions being added, while building
};

}  // namespace deephash::nn
