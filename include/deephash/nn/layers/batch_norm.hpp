#pragma once
// Batch normalisation as Caffe splits it: BatchNorm normalises each channel (batch statistics in
// training, running statistics in the test phase), Scale applies the learned gain and shift.
//
// Caffe stores the running statistics as decayed sums with their normaliser, three blobs:
// (sum of means, sum of unbiased variances, normaliser); the estimate is sum / normaliser. We keep
// the same three blobs so that imported models (e.g. ResNets) work unchanged. They are not
// learned: their lr and decay multipliers are 0 whatever the spec says.
//
// Data-parallel training (a collective in the run context): the batch statistics are those of
// the global batch, not of this rank's slice. Forward sums, per channel, x and x^2 and the count
// over the group (in double, one allreduce per layer); backward sums dy and dy * y the same way.
// Every rank then normalises with the same mean and variance, computes the gradient the whole
// batch would give its samples, and updates the running statistics identically, so they stay
// the same on every rank without being exchanged. One process (no collective) computes exactly
// what it did before, bit for bit.

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "deephash/nn/filler.hpp"
#include "deephash/nn/layer.hpp"

namespace deephash::nn {

// Plane p (an image's channel) of an N x C x ... array, as an Eigen array: the per-channel loops
// below read like the formulas, and their sums are vectorised.
template <class T>
auto plane_at(T* data, std::size_t p, std::size_t plane) {
  using Array = Eigen::Array<std::remove_const_t<T>, Eigen::Dynamic, 1>;
  using Map = std::conditional_t<std::is_const_v<T>, Eigen::Map<const Array>, Eigen::Map<Array>>;
  return Map(data + p * plane, Eigen::Index(plane));
}

template <class Scalar>
class BatchNormLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

 public:
  using Base::Base;
  bool allows_in_place() const override { return true; }
  std::size_t num_params() const override { return 3; }
  ParamSpec param_spec(std::size_t) const override { return ParamSpec{0, 0}; }  // statistics, not learned

  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 1, 1);
    if (bottom[0]->num_axes() < 2) this->fail("input needs a channel axis, got " + shape_text(bottom[0]->shape()));
    if (this->params_.empty()) {
      const int channels = bottom[0]->shape(1);
      this->add_param({channels}).zero_data();
      this->add_param({channels}).zero_data();
      this->add_param({1}).zero_data();
    }
  }

  void reshape(const Blobs& bottom, const Blobs& top) override {
    if (bottom[0]->shape(1) != this->params_[0]->shape(0))
      this->fail("input " + shape_text(bottom[0]->shape()) + " does not have " +
                 std::to_string(this->params_[0]->shape(0)) + " channels");
    top[0]->reshape_like(*bottom[0]);
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const BatchNormSpec& s = this->spec_.batch_norm;
    const int n = bottom[0]->shape(0), c = bottom[0]->shape(1);
    const std::size_t plane = bottom[0]->count_from(2);
    const Scalar eps = Scalar(s.eps);
    global_ = s.use_global_stats.value_or(ctx.phase == Phase::Test);
    synced_ = false;
    mean_.setZero(c);
    inv_std_.setZero(c);
    if (global_) {
      const Scalar norm = this->params_[2]->data()[0];
      const Scalar factor = norm == 0 ? Scalar(0) : Scalar(1) / norm;
      for (int ch = 0; ch < c; ++ch) {
        mean_[ch] = this->params_[0]->data()[ch] * factor;
        inv_std_[ch] = Scalar(1) / std::sqrt(this->params_[1]->data()[ch] * factor + eps);
      }
    } else {
      // Per channel: [0, c) sums of x, [c, 2c) sums of x^2, [2c] the count; over the group if any.
      std::vector<double> sums(2 * std::size_t(c) + 1, 0.0);
      ctx.parallel_chunks(std::size_t(c), [&](std::size_t, std::size_t c0, std::size_t c1) {
        for (int ch = int(c0); ch < int(c1); ++ch) {
          double sum = 0, sq = 0;
          for (int i = 0; i < n; ++i) {
            const auto x = plane_at(bottom[0]->data(), std::size_t(i) * c + std::size_t(ch), plane);
            sum += double(x.sum());
            sq += double(x.square().sum());
          }
          sums[std::size_t(ch)] = sum;
          sums[std::size_t(c + ch)] = sq;
        }
      });
      sums[2 * std::size_t(c)] = double(n) * double(plane);
      synced_ = ctx.collective != nullptr;
      if (synced_) ctx.collective->allreduce_sum(sums.data(), sums.size());
      const double count = sums[2 * std::size_t(c)];
      Vector var = Vector::Zero(c);
      for (int ch = 0; ch < c; ++ch) {
        const double mean = sums[std::size_t(ch)] / count;
        mean_[ch] = Scalar(mean);
        var[ch] = Scalar(std::max(0.0, sums[std::size_t(c + ch)] / count - mean * mean));
        inv_std_[ch] = Scalar(1) / std::sqrt(var[ch] + eps);
      }
      // Running statistics, Caffe's way: decayed sums and their normaliser.
      const Scalar decay = Scalar(s.moving_average_fraction);
      Scalar* running = this->params_[2]->data();
      running[0] = running[0] * decay + Scalar(1);
      const Scalar unbias = count > 1 ? Scalar(count / (count - 1)) : Scalar(1);
      for (int ch = 0; ch < c; ++ch) {
        this->params_[0]->data()[ch] = this->params_[0]->data()[ch] * decay + mean_[ch];
        this->params_[1]->data()[ch] = this->params_[1]->data()[ch] * decay + unbias * var[ch];
      }
    }
    // The gradient needs the normalised values, kept as they are written: later in-place layers
    // may rewrite the output.
    if (!global_) normalized_.resize(Eigen::Index(bottom[0]->count()));
    ctx.parallel_chunks(std::size_t(n) * c, [&](std::size_t, std::size_t p0, std::size_t p1) {
      for (std::size_t p = p0; p < p1; ++p) {
        const int ch = int(p % std::size_t(c));
        auto y = plane_at(top[0]->data(), p, plane);
        y = (plane_at(bottom[0]->data(), p, plane) - mean_[ch]) * inv_std_[ch];
        if (!global_) plane_at(normalized_.data(), p, plane) = y;
      }
    });
  }

  // Training: dx = inv_std * (dy - mean(dy) - y * mean(dy * y)), means per channel over the
  // batch and positions (the global batch's, when the statistics were synchronised). Global
  // statistics: dx = inv_std * dy.
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    if (!propagate[0]) return;
    const int n = top[0]->shape(0), c = top[0]->shape(1);
    const std::size_t plane = top[0]->count_from(2);
    // Per channel: [0, c) sums of dy, [c, 2c) sums of dy * y, [2c] the count.
    std::vector<double> sums;
    if (!global_) {
      sums.assign(2 * std::size_t(c) + 1, 0.0);
      ctx.parallel_chunks(std::size_t(c), [&](std::size_t, std::size_t c0, std::size_t c1) {
        for (int ch = int(c0); ch < int(c1); ++ch) {
          double sum_dy = 0, sum_dy_y = 0;
          for (int i = 0; i < n; ++i) {
            const std::size_t p = std::size_t(i) * c + std::size_t(ch);
            const auto dy = plane_at(top[0]->diff(), p, plane);
            sum_dy += double(dy.sum());
            sum_dy_y += double((dy * plane_at(normalized_.data(), p, plane)).sum());
          }
          sums[std::size_t(ch)] = sum_dy;
          sums[std::size_t(c + ch)] = sum_dy_y;
        }
      });
      sums[2 * std::size_t(c)] = double(n) * double(plane);
      if (synced_) {
        // Forward summed over the group, so backward must too: every rank takes part.
        if (!ctx.collective) this->fail("the forward pass synchronised its statistics over a group; backward needs the group too");
        ctx.collective->allreduce_sum(sums.data(), sums.size());
      }
    }
    ctx.parallel_chunks(std::size_t(c), [&](std::size_t, std::size_t c0, std::size_t c1) {
      for (int ch = int(c0); ch < int(c1); ++ch) {
        double mean_dy = 0, mean_dy_y = 0;
        if (!global_) {
          const double count = sums[2 * std::size_t(c)];
          mean_dy = sums[std::size_t(ch)] / count;
          mean_dy_y = sums[std::size_t(c + ch)] / count;
        }
        for (int i = 0; i < n; ++i) {
          const std::size_t p = std::size_t(i) * c + std::size_t(ch);
          const auto dy = plane_at(top[0]->diff(), p, plane);
          auto dx = plane_at(bottom[0]->diff(), p, plane);
          if (global_)
            dx = inv_std_[ch] * dy;
          else
            dx = inv_std_[ch] * (dy - Scalar(mean_dy) - plane_at(normalized_.data(), p, plane) * Scalar(mean_dy_y));
        }
      }
    });
  }

 private:
  bool global_ = false;
  bool synced_ = false;  // the last forward pass summed its statistics over a group
  Vector mean_, inv_std_, normalized_;
};

// y = x * gamma_c (+ beta_c), per channel (axis 1).
template <class Scalar>
class ScaleLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  bool allows_in_place() const override { return true; }
  std::size_t num_params() const override { return this->spec_.scale.bias_term ? 2 : 1; }

  void setup(const Blobs& bottom, std::mt19937_64& rng) override {
    this->require_bottoms(bottom, 1, 1);
    if (this->spec_.scale.axis != 1) this->fail("only axis 1 is supported");
    if (bottom[0]->num_axes() < 2) this->fail("input needs a channel axis, got " + shape_text(bottom[0]->shape()));
    if (this->params_.empty()) {
      fill(this->add_param({bottom[0]->shape(1)}), this->spec_.scale.filler, rng, this->name());
      if (this->spec_.scale.bias_term)
        fill(this->add_param({bottom[0]->shape(1)}), this->spec_.scale.bias_filler, rng, this->name());
    }
  }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    if (bottom[0]->shape(1) != this->params_[0]->shape(0))
      this->fail("input " + shape_text(bottom[0]->shape()) + " does not have " +
                 std::to_string(this->params_[0]->shape(0)) + " channels");
    top[0]->reshape_like(*bottom[0]);
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const int c = bottom[0]->shape(1);
    const std::size_t plane = bottom[0]->count_from(2);
    // Run in place, the input is overwritten but the gain's gradient needs it: keep a copy,
    // taken plane by plane as the output is written.
    const bool in_place = top[0] == bottom[0];
    if (in_place) input_copy_.reshape_like(*bottom[0]);
    const Scalar* gamma = this->params_[0]->data();
    const Scalar* beta = this->params_.size() > 1 ? this->params_[1]->data() : nullptr;
    ctx.parallel_chunks(std::size_t(bottom[0]->shape(0)) * c, [&](std::size_t, std::size_t p0, std::size_t p1) {
      for (std::size_t p = p0; p < p1; ++p) {
        const int ch = int(p % std::size_t(c));
        auto x = plane_at(bottom[0]->data(), p, plane);
        if (in_place) plane_at(input_copy_.data(), p, plane) = x;
        plane_at(top[0]->data(), p, plane) = x * gamma[ch] + (beta ? beta[ch] : Scalar(0));
      }
    });
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    const int n = top[0]->shape(0), c = top[0]->shape(1);
    const std::size_t plane = top[0]->count_from(2);
    const Scalar* x = top[0] == bottom[0] ? input_copy_.data() : bottom[0]->data();
    const Scalar* gamma = this->params_[0]->data();
    ctx.parallel_chunks(std::size_t(c), [&](std::size_t, std::size_t c0, std::size_t c1) {
      for (int ch = int(c0); ch < int(c1); ++ch) {
        double dgamma = 0, dbeta = 0;
        for (int i = 0; i < n; ++i) {
          const std::size_t p = std::size_t(i) * std::size_t(c) + std::size_t(ch);
          const auto dy = plane_at(top[0]->diff(), p, plane);
          dgamma += double((dy * plane_at(x, p, plane)).sum());
          dbeta += double(dy.sum());
          if (propagate[0]) plane_at(bottom[0]->diff(), p, plane) = dy * gamma[ch];
        }
        this->params_[0]->diff()[ch] += Scalar(dgamma);
        if (this->params_.size() > 1) this->params_[1]->diff()[ch] += Scalar(dbeta);
      }
    });
  }

 private:
  Blob<Scalar> input_copy_;
};

}  // namespace deephash::nn
