#pragma once
// Stochastic gradient descent with momentum, as Caffe's SGD solver defines it, so that a Caffe
// solver.prototxt means the same here:
//   g = dL/dw + weight_decay * decay_mult * w
//   v = momentum * v + lr(iter) * lr_mult * g
//   w = w - v
// Learning-rate policies: Caffe's fixed, step, multistep, exp, inv and poly, plus "onecycle"
// (cosine warm-up to base_lr over the first 30% of max_iter, then cosine decay to base_lr / 1e4).

#include <cmath>
#include <string>
#include <vector>

#include "deephash/nn/net.hpp"

namespace deephash::nn {

struct SolverSpec {
  float base_lr = 0.01f;
  std::string lr_policy = "fixed";
  float gamma = 0.1f;
  float power = 0.75f;
  int stepsize = 100000;
  std::vector<int> stepvalue;
  int max_iter = 10000;
  float momentum = 0.9f;
  float weight_decay = 0.0005f;
};

inline double learning_rate(const SolverSpec& s, int iter) {
  const std::string& p = s.lr_policy;
  if (p == "fixed") return s.base_lr;
  if (p == "step") return s.base_lr * std::pow(s.gamma, std::floor(double(iter) / s.stepsize));
  if (p == "multistep") {
    int passed = 0;
    for (int v : s.stepvalue) passed += iter >= v;
    return s.base_lr * std::pow(s.gamma, passed);
  }
  if (p == "exp") return s.base_lr * std::pow(s.gamma, iter);
  if (p == "inv") return s.base_lr * std::pow(1.0 + s.gamma * iter, -double(s.power));
  if (p == "poly") return s.base_lr * std::pow(std::max(0.0, 1.0 - double(iter) / s.max_iter), s.power);
  if (p == "onecycle") {
    const double warm = 0.3 * s.max_iter, pi = 3.14159265358979323846;
    const double start = s.base_lr / 25.0, end = s.base_lr / 1e4;
    if (iter < warm) return start + (s.base_lr - start) * (1 - std::cos(pi * iter / warm)) / 2;
    const double t = std::min(1.0, (iter - warm) / std::max(1.0, s.max_iter - warm));
    return end + (s.base_lr - end) * (1 + std::cos(pi * t)) / 2;
  }
  throw Error("solver", "unknown lr_policy '" + p + "' (fixed, step, multistep, exp, inv, poly, onecycle)");
}

template <class Scalar>
class SgdSolver {
 public:
  SgdSolver(Net<Scalar>& net, SolverSpec spec) : net_(net), spec_(std::move(spec)), params_(net.learnable_params()) {
    learning_rate(spec_, 0);  // validates the policy
    for (auto& p : params_) history_.emplace_back(p.blob->count(), Scalar(0));
  }

  const SolverSpec& spec() const { return spec_; }
  int iteration() const { return iter_; }
  double current_learning_rate() const { return learning_rate(spec_, iter_); }

  // Applies the gradients the net has accumulated, then clears them.
  void step() {
    const Scalar rate = Scalar(current_learning_rate());
    const Scalar momentum = Scalar(spec_.momentum), decay = Scalar(spec_.weight_decay);
    for (std::size_t i = 0; i < params_.size(); ++i) {
      Blob<Scalar>& b = *params_[i].blob;
      const Scalar local_rate = rate * Scalar(params_[i].spec.lr_mult);
      const Scalar local_decay = decay * Scalar(params_[i].spec.decay_mult);
      Scalar* w = b.data();
      Scalar* g = b.diff();
      Scalar* v = history_[i].data();
      for (std::size_t j = 0; j < b.count(); ++j) {
        v[j] = momentum * v[j] + local_rate * (g[j] + local_decay * w[j]);
        w[j] -= v[j];
        g[j] = 0;
      }
    }
    ++iter_;
  }

  // The momentum buffers, by parameter (for snapshots), and their restoration.
  const std::vector<std::vector<Scalar>>& history() const { return history_; }
  void restore(int iteration, const std::vector<std::vector<Scalar>>& history) {
    if (history.size() != history_.size())
      throw Error("solver", "the snapshot has " + std::to_string(history.size()) + " parameter histories, the net " +
                                std::to_string(history_.size()));
    for (std::size_t i = 0; i < history.size(); ++i)
      if (history[i].size() != history_[i].size())
        throw Error("solver", "snapshot history " + std::to_string(i) + " has the wrong size");
    history_ = history;
    iter_ = iteration;
  }

 private:
  Net<Scalar>& net_;
  SolverSpec spec_;
  std::vector<LearnableParam<Scalar>> params_;
  std::vector<std::vector<Scalar>> history_;
  int iter_ = 0;
};

}  // namespace deephash::nn
