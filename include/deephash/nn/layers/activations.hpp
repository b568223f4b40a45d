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
    const bool train = ctx.phase == Phase::Train;
    if (train) positive_.resize(n);
    std::uint8_t* positive = positive_.data();
    ctx.parallel_chunks(n, [=](std::size_t, std::size_t i0, std::size_t i1) {
      // Branch-free, so that the compiler vectorises it and random signs cost no mispredictions;
      // the mask is written as a pass of its own (a byte store may alias anything).
      if (train) take_mask(x + i0, positive + i0, i1 - i0);
      for (std::size_t i = i0; i < i1; ++i) y[i] = std::max(x[i], Scalar(0)) + slope * std::min(x[i], Scalar(0));
    });
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    if (!propagate[0]) return;
    const Scalar slope = Scalar(this->spec_.relu.negative_slope);
    const Scalar* dy = top[0]->diff();
    Scalar* dx = bottom[0]->diff();
    const std::uint8_t* positive = positive_.data();
    ctx.parallel_chunks(positive_.size(), [=](std::size_t, std::size_t i0, std::size_t i1) {
      if (dx == dy)
        pass_where_positive(positive + i0, dx + i0, i1 - i0, slope);
      else
        pass_where_positive(positive + i0, dy + i0, dx + i0, i1 - i0, slope);
    });
  }

 private:
  // The loops apart, with their pointers declared unaliased, so that they are vectorised:
  // a byte store may alias anything, and in place the input and output alias exactly.
  static void take_mask(const Scalar* __restrict x, std::uint8_t* __restrict positive, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) positive[i] = x[i] > 0;
  }
  static void pass_where_positive(const std::uint8_t* __restrict positive, Scalar* __restrict d, std::size_t n,
                                  Scalar slope) {
    for (std::size_t i = 0; i < n; ++i) d[i] = positive[i] ? d[i] : slope * d[i];
  }
  static void pass_where_positive(const std::uint8_t* __restrict positive, const Scalar* __restrict dy,
                                  Scalar* __restrict dx, std::size_t n, Scalar slope) {
    for (std::size_t i = 0; i < n; ++i) dx[i] = positive[i] ? dy[i] : slope * dy[i];
  }

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

namespace detail {
// SplitMix64's finaliser: a bijection of 64-bit words in which every input bit moves about half
// the output bits; consecutive inputs give unrelated outputs.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace detail

// Inverted dropout: at training time each unit is kept with probability 1 - ratio and scaled by
// 1 / (1 - ratio), so that the test phase is the identity (as in Caffe).
//
// The mask of a sample is a function of (one draw from the run's generator, the sample's global
// position: ctx.first_sample + its row): the same sample gets the same mask whether one process
// runs the whole batch or data-parallel ranks each run a slice of it (their generators are
// seeded alike, so they draw the same base), and two dropout layers draw different bases. Within
// a sample, unit j's draw is SplitMix64's j-th output from the sample's seed: a counter, so the
// samples split over threads without changing the mask, and the draws are the same on every
// platform (std::bernoulli_distribution's are not specified).
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
    // Unit kept where the top 53 bits of its draw, a uniform integer, lie below keep * 2^53.
    const std::uint64_t below = std::uint64_t(std::ldexp(keep, 53));
    const std::uint64_t base = (*ctx.rng)();
    mask_.resize(bottom[0]->count());
    const std::size_t samples = bottom[0]->num_axes() > 0 ? std::size_t(bottom[0]->shape(0)) : 1;
    const std::size_t per_sample = samples > 0 ? mask_.size() / samples : 0;
    const Scalar* x = bottom[0]->data();
    Scalar* y = top[0]->data();
    ctx.parallel_chunks(samples, [&](std::size_t, std::size_t s0, std::size_t s1) {
      for (std::size_t s = s0; s < s1; ++s) {
        const std::uint64_t seed = detail::mix64(base ^ detail::mix64(std::uint64_t(ctx.first_sample + s)));
        for (std::size_t j = 0, i = s * per_sample; j < per_sample; ++j, ++i) {
          const std::uint64_t draw = detail::mix64(seed + (std::uint64_t(j) + 1) * 0x9E3779B97F4A7C15ull);
          mask_[i] = (draw >> 11) < below ? scale : Scalar(0);
          y[i] = x[i] * mask_[i];
        }
      }
    });
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
