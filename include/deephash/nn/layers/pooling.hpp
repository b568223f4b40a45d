#pragma once
// Max and average pooling with Caffe's output size rule: ceil((H + 2 pad - kernel) / stride) + 1
// (floor with round_mode FLOOR), minus one if the last window would start in the padding. Max pooling ignores padding; average
// pooling divides by the window size counted up to the padded border, as Caffe does.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

// Caffe's pooled size: ceil((size + 2 pad - kernel) / stride) + 1 (floor for RoundMode::Floor),
// less one if the last window would start in the padding.
inline int pooled_size(int size, int kernel, int pad, int stride, PoolingSpec::RoundMode mode) {
  const double steps = double(size + 2 * pad - kernel) / stride;
  int out = int(mode == PoolingSpec::RoundMode::Floor ? std::floor(steps) : std::ceil(steps)) + 1;
  if (pad > 0 && (out - 1) * stride >= size + pad) --out;
  return out;
}

template <class Scalar>
class PoolingLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;

  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 1, 1);
    this->require_axes(*bottom[0], 4, "input");
    const PoolingSpec& s = this->spec_.pooling;
    if (!s.global_pooling && (s.kernel_h <= 0 || s.kernel_w <= 0)) this->fail("kernel size must be positive");
    if (s.stride_h <= 0 || s.stride_w <= 0) this->fail("stride must be positive");
    if (s.pad_h >= std::max(1, s.kernel_h) || s.pad_w >= std::max(1, s.kernel_w))
      this->fail("padding must be smaller than the kernel");
  }

  void reshape(const Blobs& bottom, const Blobs& top) override {
    const PoolingSpec& s = this->spec_.pooling;
    this->require_axes(*bottom[0], 4, "input");
    height_ = bottom[0]->shape(2);
    width_ = bottom[0]->shape(3);
    kh_ = s.global_pooling ? height_ : s.kernel_h;
    kw_ = s.global_pooling ? width_ : s.kernel_w;
    sh_ = s.global_pooling ? 1 : s.stride_h;
    sw_ = s.global_pooling ? 1 : s.stride_w;
    ph_ = s.global_pooling ? 0 : s.pad_h;
    pw_ = s.global_pooling ? 0 : s.pad_w;
    out_h_ = pooled_size(height_, kh_, ph_, sh_, s.round_mode);
    out_w_ = pooled_size(width_, kw_, pw_, sw_, s.round_mode);
    if (out_h_ <= 0 || out_w_ <= 0) this->fail("input " + shape_text(bottom[0]->shape()) + " is smaller than the window");
    top[0]->reshape({bottom[0]->shape(0), bottom[0]->shape(1), out_h_, out_w_});
    if (s.method == PoolingSpec::Method::Max) argmax_.resize(top[0]->count());
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const bool max = this->spec_.pooling.method == PoolingSpec::Method::Max;
    const bool keep_argmax = max && ctx.phase == Phase::Train;
    const std::size_t planes = std::size_t(bottom[0]->shape(0)) * bottom[0]->shape(1);
    if (max && !keep_argmax) {
      forward_max_separable(bottom[0]->data(), top[0]->data(), planes, ctx);
      return;
    }
    if (keep_argmax && kh_ == 2 && kw_ == 2 && sh_ == 2 && sw_ == 2 && ph_ == 0 && pw_ == 0 && 2 * out_h_ <= height_ &&
        2 * out_w_ <= width_) {
      forward_max_2x2(bottom[0]->data(), top[0]->data(), planes, ctx);
      return;
    }
    ctx.parallel_chunks(planes, [&](std::size_t, std::size_t p0, std::size_t p1) {
      for (std::size_t p = p0; p < p1; ++p) {
        const Scalar* in = bottom[0]->data() + p * height_ * width_;
        Scalar* out = top[0]->data() + p * out_h_ * out_w_;
        int* arg = keep_argmax ? argmax_.data() + p * out_h_ * out_w_ : nullptr;
        for (int oy = 0; oy < out_h_; ++oy)
          for (int ox = 0; ox < out_w_; ++ox) {
            const Window w = window(oy, ox);
            const int o = oy * out_w_ + ox;
            if (max) {
              // Branch-free maximum (random data would mispredict every comparison); the position
              // of the maximum only when a backward pass will need it.
              Scalar best = -std::numeric_limits<Scalar>::infinity();
              if (arg) {
                int where = -1;
                for (int y = w.y0; y < w.y1; ++y)
                  for (int x = w.x0; x < w.x1; ++x) {
                    const Scalar v = in[y * width_ + x];
                    const bool higher = v > best;
                    best = higher ? v : best;
                    where = higher ? y * width_ + x : where;
                  }
                arg[o] = where;
              } else {
                for (int y = w.y0; y < w.y1; ++y)
                  for (int x = w.x0; x < w.x1; ++x) best = std::max(best, in[y * width_ + x]);
              }
              out[o] = best;
            } else {
              Scalar sum = 0;
              for (int y = w.y0; y < w.y1; ++y)
                for (int x = w.x0; x < w.x1; ++x) sum += in[y * width_ + x];
              out[o] = sum / Scalar(w.area);
            }
          }
      }
    });
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    if (!propagate[0]) return;
    const bool max = this->spec_.pooling.method == PoolingSpec::Method::Max;
    const std::size_t planes = std::size_t(bottom[0]->shape(0)) * bottom[0]->shape(1);
    ctx.parallel_chunks(planes, [&](std::size_t, std::size_t p0, std::size_t p1) {
      for (std::size_t p = p0; p < p1; ++p) {
        Scalar* din = bottom[0]->diff() + p * height_ * width_;
        const Scalar* dout = top[0]->diff() + p * out_h_ * out_w_;
        std::fill(din, din + height_ * width_, Scalar(0));
        for (int oy = 0; oy < out_h_; ++oy)
          for (int ox = 0; ox < out_w_; ++ox) {
            const int o = oy * out_w_ + ox;
            if (max) {
              const int where = argmax_[p * out_h_ * out_w_ + std::size_t(o)];
              if (where >= 0) din[where] += dout[o];
            } else {
              const Window w = window(oy, ox);
              const Scalar g = dout[o] / Scalar(w.area);
              for (int y = w.y0; y < w.y1; ++y)
                for (int x = w.x0; x < w.x1; ++x) din[y * width_ + x] += g;
            }
          }
      }
    });
  }

 private:
  // Max pooling without positions (inference): the maximum of a rectangle is the maximum over
  // its rows of each row's maximum, so each input row is reduced across the window's width once,
  // then the window's rows are combined: kh + kw comparisons per output instead of kh * kw.
  void forward_max_separable(const Scalar* input, Scalar* output, std::size_t planes, const RunContext& ctx) const {
    const auto w_out = static_cast<std::size_t>(out_w_), h_out = static_cast<std::size_t>(out_h_);
    std::vector<int> x0(w_out), x1(w_out), y0(h_out), y1(h_out);
    for (int ox = 0; ox < out_w_; ++ox) {
      const Window w = window(0, ox);
      x0[std::size_t(ox)] = w.x0;
      x1[std::size_t(ox)] = w.x1;
    }
    for (int oy = 0; oy < out_h_; ++oy) {
      const Window w = window(oy, 0);
      y0[std::size_t(oy)] = w.y0;
      y1[std::size_t(oy)] = w.y1;
    }
    ctx.parallel_chunks(planes, [&](std::size_t, std::size_t p0, std::size_t p1) {
      std::vector<Scalar> rows(static_cast<std::size_t>(height_) * w_out);
      for (std::size_t p = p0; p < p1; ++p) {
        const Scalar* in = input + p * height_ * width_;
        Scalar* out = output + p * out_h_ * out_w_;
        for (int y = 0; y < height_; ++y)
          for (int ox = 0; ox < out_w_; ++ox) {
            Scalar best = -std::numeric_limits<Scalar>::infinity();
            for (int x = x0[std::size_t(ox)]; x < x1[std::size_t(ox)]; ++x) best = std::max(best, in[y * width_ + x]);
            rows[std::size_t(y) * out_w_ + ox] = best;
          }
        for (int oy = 0; oy < out_h_; ++oy) {
          Scalar* o = out + oy * out_w_;
          std::copy(&rows[std::size_t(y0[std::size_t(oy)]) * out_w_], &rows[std::size_t(y0[std::size_t(oy)] + 1) * out_w_], o);
          for (int y = y0[std::size_t(oy)] + 1; y < y1[std::size_t(oy)]; ++y)
            for (int ox = 0; ox < out_w_; ++ox) o[ox] = std::max(o[ox], rows[std::size_t(y) * out_w_ + ox]);
        }
      }
    });
  }

  // Training's 2x2, stride-2 max pooling with every window inside the image (the CIFAR net's):
  // the general loop's result (the first maximum in row-major order, -1 where all are NaN), with
  // the window fixed so that the compiler unrolls it.
  void forward_max_2x2(const Scalar* input, Scalar* output, std::size_t planes, const RunContext& ctx) {
    ctx.parallel_chunks(planes, [&](std::size_t, std::size_t p0, std::size_t p1) {
      for (std::size_t p = p0; p < p1; ++p)
        for (int oy = 0; oy < out_h_; ++oy) {
          const int top_left = 2 * oy * width_;
          const Scalar* __restrict row = input + p * height_ * width_ + top_left;
          Scalar* __restrict out = output + (p * out_h_ + std::size_t(oy)) * out_w_;
          int* __restrict arg = argmax_.data() + (p * out_h_ + std::size_t(oy)) * out_w_;
          for (int ox = 0; ox < out_w_; ++ox) {
            Scalar best = -std::numeric_limits<Scalar>::infinity();
            int where = -1;
            for (int at : {2 * ox, 2 * ox + 1, width_ + 2 * ox, width_ + 2 * ox + 1}) {
              const bool higher = row[at] > best;
              best = higher ? row[at] : best;
              where = higher ? top_left + at : where;
            }
            out[ox] = best;
            arg[ox] = where;
          }
        }
    });
  }

  struct Window {
    int y0, y1, x0, x1, area;
  };
  // The input rows and columns a window covers, clipped to the image; `area` counts the window up
  // to the padded border (Caffe's divisor for average pooling).
  Window window(int oy, int ox) const {
    int y0 = oy * sh_ - ph_, x0 = ox * sw_ - pw_;
    int y1 = std::min(y0 + kh_, height_ + ph_), x1 = std::min(x0 + kw_, width_ + pw_);
    const int area = (y1 - y0) * (x1 - x0);
    return {std::max(y0, 0), std::min(y1, height_), std::max(x0, 0), std::min(x1, width_), area};
  }

  int height_ = 0, width_ = 0, kh_ = 0, kw_ = 0, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0, out_h_ = 0, out_w_ = 0;
  std::vector<int> argmax_;
};

}  // namespace deephash::nn
