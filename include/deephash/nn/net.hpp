#pragma once
// A network as Caffe runs it: the layers of a NetGraph (see net_graph.hpp for the blob and
// version rules), their blobs in host memory, forward and backward passes, and the weights by
// layer name.

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "deephash/nn/net_graph.hpp"

namespace deephash::nn {

// A learnable parameter blob and its multipliers (as seen by the solver).
template <class Scalar>
struct LearnableParam {
  Blob<Scalar>* blob;
  ParamSpec spec;
  std::string owner;  // layer name, for messages and model files
  std::size_t index;  // position among the owner's blobs
};

// Checks that weights for one layer fit its parameter blobs, given their shapes (shapes may
// differ where the element counts agree: old Caffe files store 4-D dims for everything).
inline void check_weights(const LayerWeights& w, const std::vector<std::vector<int>>& shapes, const std::string& source) {
  if (w.blobs.size() != shapes.size())
    throw Error(source, "layer '" + w.layer + "' has " + std::to_string(shapes.size()) + " parameter blobs in the net but " +
                            std::to_string(w.blobs.size()) + " in the weights");
  for (std::size_t j = 0; j < w.blobs.size(); ++j) {
    std::size_t count = 1;
    for (int d : shapes[j]) count *= std::size_t(d);
    if (w.blobs[j].data.size() != count)
      throw Error(source, "layer '" + w.layer + "' blob " + std::to_string(j) + ": the net expects " + shape_text(shapes[j]) +
                              " (" + std::to_string(count) + " values), the weights hold " + shape_text(w.blobs[j].shape) +
                              " (" + std::to_string(w.blobs[j].data.size()) + " values)");
  }
}

template <class Scalar>
class Net {
 public:
  using BlobType = Blob<Scalar>;

  Net(const NetSpec& spec, Phase phase, const NetOptions& options = {}) : graph_(spec, phase, options), phase_(phase) {
    for (std::size_t i = 0; i < graph_.num_storages(); ++i) storages_.push_back(std::make_unique<BlobType>());
    for (const auto& in : graph_.inputs()) storages_[in.storage]->reshape(in.shape);
    // Set up in order: parameter shapes follow from the input shapes.
    std::mt19937_64 rng(options.seed);
    for (std::size_t i = 0; i < graph_.nodes().size(); ++i) {
      layers_.push_back(make_layer<Scalar>(graph_.nodes()[i].spec));
      layers_.back()->setup(bottom_blobs(i), rng);
      layers_.back()->reshape(bottom_blobs(i), top_blobs(i));
    }
  }

  const std::string& name() const { return graph_.name(); }
  Phase phase() const { return phase_; }
  const NetGraph& graph() const { return graph_; }
  std::vector<std::string> input_names() const {
    std::vector<std::string> names;
    for (const auto& in : graph_.inputs()) names.push_back(in.name);
    return names;
  }

  bool has_blob(const std::string& name) const { return graph_.has_blob(name); }
  // The last version of a blob.
  BlobType& blob(const std::string& name) { return *storages_[graph_.storage_of(name)]; }

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
    for (const auto& l : graph_.losses()) {
      const BlobType& b = *storages_[l.storage];
      for (std::size_t j = 0; j < b.count(); ++j) loss += Scalar(l.weight) * b.data()[j];
    }
    return loss;
  }

  // Gradients of the loss: bottom diffs everywhere, parameter diffs added to (see zero_param_diffs).
  // after_layer(i), if given, runs once layer i's backward is done (for every layer, from the last
  // to the first, whether it ran backward or not): its parameter gradients are then final, which
  // lets data-parallel training start exchanging them while earlier layers still compute.
  void backward(const RunContext& ctx, const std::function<void(std::size_t layer)>& after_layer = {}) {
    for (auto& s : storages_) s->zero_diff();
    for (const auto& l : graph_.losses()) {
      BlobType& b = *storages_[l.storage];
      std::fill(b.diff(), b.diff() + b.count(), Scalar(l.weight));
    }
    for (std::size_t i = layers_.size(); i-- > 0;) {
      const NetGraph::Node& n = graph_.nodes()[i];
      if (n.runs_backward) layers_[i]->backward(top_blobs(i), n.propagate, bottom_blobs(i), ctx);
      if (after_layer) after_layer(i);
    }
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

  // Copies weights into the layers of the same name. Layers of the net without weights keep
  // their initialisation; weights of layers the net lacks are ignored. Returns the names of the
  // layers that were loaded.
  std::vector<std::string> load_weights(const std::vector<LayerWeights>& weights, const std::string& source) {
    std::vector<std::string> loaded;
    for (const LayerWeights& w : weights) {
      Layer<Scalar>* l = find_layer(w.layer);
      if (!l) continue;
      std::vector<std::vector<int>> shapes;
      for (auto& p : l->params()) shapes.push_back(p->shape());
      check_weights(w, shapes, source);
      for (std::size_t j = 0; j < w.blobs.size(); ++j)
        std::copy(w.blobs[j].data.begin(), w.blobs[j].data.end(), l->params()[j]->data());
      loaded.push_back(w.layer);
    }
    return loaded;
  }

 private:
  std::vector<BlobType*> bottom_blobs(std::size_t i) {
    std::vector<BlobType*> out;
    for (std::size_t s : graph_.nodes()[i].bottoms) out.push_back(storages_[s].get());
    return out;
  }
  std::vector<BlobType*> top_blobs(std::size_t i) {
    std::vector<BlobType*> out;
    for (std::size_t s : graph_.nodes()[i].tops) out.push_back(storages_[s].get());
    return out;
  }

  NetGraph graph_;
  Phase phase_;
  std::vector<std::unique_ptr<BlobType>> storages_;
  std::vector<std::unique_ptr<Layer<Scalar>>> layers_;
};

}  // namespace deephash::nn
