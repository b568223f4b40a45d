#pragma once
// Local response normalisation across channels (Krizhevsky et al. 2012, as Caffe defines it):
//   s_c = k + alpha / n * sum of x_j^2 over the n channels centred on c,   y_c = x_c s_c^-beta
//   dx_c = dy_c s_c^-beta - (2 alpha beta / n) x_c * sum over windows containing c of dy_j y_j / s_j

#include <cmath>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

template <class Scalar>
class LrnLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
  using Plane = Eigen::Map<Array>;
  using ConstPlane = Eigen::Map<const Array>;

  // s^e, vectorised; the common AlexNet exponent -0.75 as 1 / sqrt(s sqrt(s)), which is exact
  // to rounding and much faster than exp(e log s).
  template <class Expr>
  static Array power(const Eigen::ArrayBase<Expr>& s, Scalar e) {
    if (e == Scalar(-0.75)) return (s * s.sqrt()).rsqrt();
    return (e * s.log()).exp();
  }

 public:
  using Base::Base;

  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 1, 1);
    this->require_axes(*bottom[0], 4, "input");
    if (this->spec_.lrn.local_size <= 0 || this->spec_.lrn.local_size % 2 == 0)
      this->fail("local_size must be a positive odd number, got " + std::to_string(this->spec_.lrn.local_size));
  }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    top[0]->reshape_like(*bottom[0]);
    scale_.reshape_like(*bottom[0]);
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const LrnSpec& s = this->spec_.lrn;
    const int channels = bottom[0]->shape(1), half = s.local_size / 2;
    const std::size_t plane = bottom[0]->count_from(2);
    const Scalar alpha_n = Scalar(s.alpha / s.local_size), beta = Scalar(s.beta), k = Scalar(s.k);
    ctx.parallel_chunks(std::size_t(bottom[0]->shape(0)), [&](std::size_t, std::size_t n0, std::size_t n1) {
      std::vector<Scalar> window_sum(plane);
      for (std::size_t n = n0; n < n1; ++n) {
        const Scalar* x = bottom[0]->data() + n * channels * plane;
        Scalar* scale = scale_.data() + n * channels * plane;
        Scalar* y = top[0]->data() + n * channels * plane;
        // Running sum of squares over the channel window, slid one channel at a time.
        std::fill(window_sum.begin(), window_sum.end(), Scalar(0));
        for (int c = 0; c < std::min(half, channels); ++c)
          for (std::size_t i = 0; i < plane; ++i) window_sum[i] += x[c * plane + i] * x[c * plane + i];
        for (int c = 0; c < channels; ++c) {
          if (c + half < channels)
            for (std::size_t i = 0; i < plane; ++i) window_sum[i] += x[(c + half) * plane + i] * x[(c + half) * plane + i];
          if (c - half - 1 >= 0)
            for (std::size_t i = 0; i < plane; ++i)
              window_sum[i] -= x[(c - half - 1) * plane + i] * x[(c - half - 1) * plane + i];
          Plane s(scale + c * plane, Eigen::Index(plane));
          s = k + alpha_n * ConstPlane(window_sum.data(), Eigen::Index(plane));
          Plane(y + c * plane, Eigen::Index(plane)) = ConstPlane(x + c * plane, Eigen::Index(plane)) * power(s, -beta);
        }
      }
    });
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    if (!propagate[0]) return;
    const LrnSpec& s = this->spec_.lrn;
    const int channels = bottom[0]->shape(1), half = s.local_size / 2;
    const std::size_t plane = bottom[0]->count_from(2);
    const Scalar beta = Scalar(s.beta), factor = Scalar(2 * s.alpha * s.beta / s.local_size);
    ctx.parallel_chunks(std::size_t(bottom[0]->shape(0)), [&](std::size_t, std::size_t n0, std::size_t n1) {
      std::vector<Scalar> ratio(std::size_t(channels) * plane), window_sum(plane);
      for (std::size_t n = n0; n < n1; ++n) {
        const std::size_t off = n * channels * plane;
        const Scalar *x = bottom[0]->data() + off, *y = top[0]->data() + off, *dy = top[0]->diff() + off,
                     *scale = scale_.data() + off;
        Scalar* dx = bottom[0]->diff() + off;
        for (std::size_t i = 0; i < ratio.size(); ++i) ratio[i] = dy[i] * y[i] / scale[i];
        std::fill(window_sum.begin(), window_sum.end(), Scalar(0));
        for (int c = 0; c < std::min(half, channels); ++c)
          for (std::size_t i = 0; i < plane; ++i) window_sum[i] += ratio[c * plane + i];
        for (int c = 0; c < channels; ++c) {
          if (c + half < channels)
            for (std::size_t i = 0; i < plane; ++i) window_sum[i] += ratio[(c + half) * plane + i];
          if (c - half - 1 >= 0)
            for (std::size_t i = 0; i < plane; ++i) window_sum[i] -= ratio[(c - half - 1) * plane + i];
          const Eigen::Index m = Eigen::Index(plane);
          const std::size_t o = std::size_t(c) * plane;
          Plane(dx + o, m) = ConstPlane(dy + o, m) * power(ConstPlane(scale + o, m), -beta) -
                             factor * ConstPlane(x + o, m) * ConstPlane(window_sum.data(), m);
        }
      }
    });
  }

 private:
  Blob<Scalar> scale_;
};

}  // namespace deephash::nn
