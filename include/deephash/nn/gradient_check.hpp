#pragma once
// Numerical gradient checking, the proof that a layer's backward matches its forward.
//
// The objective is L = sum over tops of <top data, R> for a fixed random R; backward starts from
// top diff = R, and each analytic gradient (bottom diffs and parameter diffs) is compared with the
// central difference (L(x + h) - L(x - h)) / 2h, element by element.

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

struct GradientCheckResult {
  double max_relative_error = 0;
  std::string worst;  // where it was largest, e.g. "bottom 0 [17]"
  std::size_t checked = 0;
};

// Runs on doubles so that the comparison is limited by the method, not by rounding.
// `check_bottom[i]` says which bottoms to check (labels are not differentiable).
inline GradientCheckResult check_gradients(Layer<double>& layer, const std::vector<Blob<double>*>& bottom,
                                           const std::vector<Blob<double>*>& top,
                                           const std::vector<bool>& check_bottom, Phase phase = Phase::Train,
                                           double step = 1e-6, std::uint64_t seed = 7) {
  std::mt19937_64 setup_rng(seed);
  layer.setup(bottom, setup_rng);
  layer.reshape(bottom, top);

  // Every forward uses the same random draws (dropout masks), so the objective is a fixed function.
  std::mt19937_64 rng;
  auto objective = [&](const std::vector<std::vector<double>>& weights) {
    rng.seed(seed + 1);
    RunContext ctx{phase, nullptr, &rng};
    layer.reshape(bottom, top);
    layer.forward(bottom, top, ctx);
    double l = 0;
    for (std::size_t t = 0; t < top.size(); ++t)
      for (std::size_t i = 0; i < top[t]->count(); ++i) l += top[t]->data()[i] * weights[t][i];
    return l;
  };
  std::mt19937_64 weight_rng(seed + 2);
  std::normal_distribution<double> gauss;
  std::vector<std::vector<double>> weights(top.size());
  for (std::size_t t = 0; t < top.size(); ++t) {
    weights[t].resize(top[t]->count());
    for (double& w : weights[t]) w = gauss(weight_rng);
  }

  objective(weights);
  for (std::size_t t = 0; t < top.size(); ++t) std::copy(weights[t].begin(), weights[t].end(), top[t]->diff());
  for (auto& p : layer.params()) p->zero_diff();
  std::vector<bool> propagate(bottom.size());
  for (std::size_t b = 0; b < bottom.size(); ++b) propagate[b] = b < check_bottom.size() && check_bottom[b];
  rng.seed(seed + 1);
  RunContext ctx{phase, nullptr, &rng};
  layer.backward(top, propagate, bottom, ctx);

  std::vector<std::pair<std::string, Blob<double>*>> targets;
  for (std::size_t b = 0; b < bottom.size(); ++b)
    if (propagate[b]) targets.push_back({"bottom " + std::to_string(b), bottom[b]});
  for (std::size_t j = 0; j < layer.params().size(); ++j)
    if (layer.param_spec(j).lr_mult != 0) targets.push_back({"param " + std::to_string(j), layer.params()[j].get()});

  // Analytic gradients, saved before the finite differences disturb the diffs.
  std::vector<std::vector<double>> analytic;
  for (auto& [name, blob] : targets) analytic.emplace_back(blob->diff(), blob->diff() + blob->count());

  GradientCheckResult result;
  for (std::size_t k = 0; k < targets.size(); ++k) {
    Blob<double>* blob = targets[k].second;
    for (std::size_t i = 0; i < blob->count(); ++i) {
      const double saved = blob->data()[i];
      blob->data()[i] = saved + step;
      const double plus = objective(weights);
      blob->data()[i] = saved - step;
      const double minus = objective(weights);
      blob->data()[i] = saved;
      const double numeric = (plus - minus) / (2 * step);
      const double error = std::abs(numeric - analytic[k][i]) / std::max(1.0, std::abs(numeric) + std::abs(analytic[k][i]));
      ++result.checked;
      if (error > result.max_relative_error) {
        result.max_relative_error = error;
        result.worst = targets[k].first + " [" + std::to_string(i) + "]: analytic " + std::to_string(analytic[k][i]) +
                       ", numeric " + std::to_string(numeric);
      }
    }
  }
  objective(weights);
  return result;
}

}  // namespace deephash::nn
