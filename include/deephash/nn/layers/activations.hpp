#pragma once
// Element-wise activations. Both may run in place (top == bottom), so their gradients are
// written in terms of what the forward pass kept: ReLU passes the gradient where x > 0 (a mask),
// and the sigmoid's derivative is y (1 - y) (a copy of y): later in-place layers may rewrite the
// output before backward runs.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

template <class Scalar>
class ReluLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  bool allows_in_place() const override { return true; }
  void setup(const Blobs& bottom, std::mt19937_64&) override { this->require_bottoms(bottom, 1, 1); }
  void reshape(const Blobs& bottom, const Blobs& top) override { top[0]->reshape_like(*bottom[0]); }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const Scalar slope = Scalar(this->spec_.relu.negative_slope);
    const std::size_t n = bottom[0]->count();
    const Scalar* x = bottom[0]->data();
    Scalar* y = top[0]->data();
    // The mask is only needed for a backward pass; it is taken before an in-place write.
    if (ctx.phase == Phase::Train) {
      positive_.resize(n);
      for (std::size_t i = 0; i < n; ++i) positive_[i] = x[i] > 0;
    }
    // Branch-free, so that the compiler vectorises it and random signs cost no mispredictions.
    for (std::size_t i = 0; i < n; ++i) y[i] = std::max(x[i], Scalar(0)) + slope * std::min(x[i], Scalar(0));
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (!propagate[0]) return;
    const Scalar slope = Scalar(this->spec_.relu.negative_slope);
    const Scalar* dy = top[0]->diff();
    Scalar* dx = bottom[0]->diff();
    for (std::size_t i = 0, n = positive_.size(); i < n; ++i) dx[i] = positive_[i] ? dy[i] : slope * dy[i];
  }

 private:
  std::vector<std::uint8_t> positive_;
};

template <class Scalar>
class SigmoidLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  bool allows_in_place() const override { return true; }
  void setup(const Blobs& bottom, std::mt19937_64&) override { this->require_bottoms(bottom, 1, 1); }
  void reshape(const Blobs& bottom, const Blobs& top) override { top[0]->reshape_like(*bottom[0]); }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    top[0]->data_vector() = bottom[0]->data_vector().unaryExpr([](Scalar v) { return sigmoid(v); });
    output_ = top[0]->data_vector();
  }
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (!propagate[0]) return;
    const auto y = output_.array();
    bottom[0]->diff_vector().array() = top[0]->diff_vector().array() * y * (Scalar(1) - y);
  }

  static Scalar sigmoid(Scalar v) { return Scalar(1) / (Scalar(1) + std::exp(-v)); }

 private:
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> output_;
};

// Inverted dropout: at training time each unit is kept with probability 1 - ratio and scaled by
// 1 / (1 - ratio), so that the test phase is the identity (as in Caffe).
template <class Scalar>
class DropoutLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  bool allows_in_place() const override { return true; }
  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 1, 1);
    const float r = this->spec_.dropout.ratio;
    if (!(r >= 0 && r < 1)) this->fail("dropout ratio must be in [0, 1), got " + std::to_string(r));
  }
  void reshape(const Blobs& bottom, const Blobs& top) override { top[0]->reshape_like(*bottom[0]); }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    training_ = ctx.phase == Phase::Train;
    if (!training_) {
      if (top[0] != bottom[0]) top[0]->data_vector() = bottom[0]->data_vector();
      return;
    }
    if (!ctx.rng) this->fail("training needs a random generator in the run context");
    const double keep = 1.0 - this->spec_.dropout.ratio;
    const Scalar scale = Scalar(1 / keep);
    std::bernoulli_distribution kept(keep);
    mask_.resize(bottom[0]->count());
    const Scalar* x = bottom[0]->data();
    Scalar* y = top[0]->data();
    for (std::size_t i = 0; i < mask_.size(); ++i) {
      mask_[i] = kept(*ctx.rng) ? scale : Scalar(0);
      y[i] = x[i] * mask_[i];
    }
  }
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (!propagate[0]) return;
    if (!training_) {
      if (top[0] != bottom[0]) bottom[0]->diff_vector() = top[0]->diff_vector();
      return;
    }
    const Scalar* dy = top[0]->diff();
    Scalar* dx = bottom[0]->diff();
    for (std::size_t i = 0; i < mask_.size(); ++i) dx[i] = dy[i] * mask_[i];
  }

 private:
  bool training_ = false;
  std::vector<Scalar> mask_;
};

}  // namespace deephash::nn
