#pragma once
// Element-wise combination of equally shaped inputs (residual connections are a Sum), and the
// Split the net inserts where one blob feeds several layers (its gradient is the sum of theirs).

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

template <class Scalar>
class EltwiseLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;
  using Op = EltwiseSpec::Operation;

 public:
  using Base::Base;

  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 2, 1024);
    const EltwiseSpec& s = this->spec_.eltwise;
    if (!s.coeff.empty() && (s.operation != Op::Sum || s.coeff.size() != bottom.size()))
      this->fail("coefficients need the Sum operation and one per input");
  }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    for (const auto* b : bottom)
      if (b->shape() != bottom[0]->shape())
        this->fail("inputs differ in shape: " + shape_text(bottom[0]->shape()) + " and " + shape_text(b->shape()));
    top[0]->reshape_like(*bottom[0]);
    if (this->spec_.eltwise.operation == Op::Max) argmax_.resize(bottom[0]->count());
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    const EltwiseSpec& s = this->spec_.eltwise;
    const std::size_t n = top[0]->count();
    Scalar* y = top[0]->data();
    for (std::size_t i = 0; i < n; ++i) {
      Scalar v = s.operation == Op::Sum ? coeff(0) * bottom[0]->data()[i] : bottom[0]->data()[i];
      int best = 0;
      for (std::size_t b = 1; b < bottom.size(); ++b) {
        const Scalar x = bottom[b]->data()[i];
        if (s.operation == Op::Sum) v += coeff(b) * x;
        else if (s.operation == Op::Product) v *= x;
        else if (x > v) { v = x; best = int(b); }
      }
      y[i] = v;
      if (s.operation == Op::Max) argmax_[i] = best;
    }
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    const EltwiseSpec& s = this->spec_.eltwise;
    const std::size_t n = top[0]->count();
    const Scalar* dy = top[0]->diff();
    for (std::size_t b = 0; b < bottom.size(); ++b) {
      if (!propagate[b]) continue;
      Scalar* dx = bottom[b]->diff();
      for (std::size_t i = 0; i < n; ++i) {
        if (s.operation == Op::Sum) {
          dx[i] = coeff(b) * dy[i];
        } else if (s.operation == Op::Max) {
          dx[i] = argmax_[i] == int(b) ? dy[i] : Scalar(0);
        } else {
          Scalar others = 1;  // the product of the other inputs, without dividing by x (which may be 0)
          for (std::size_t o = 0; o < bottom.size(); ++o)
            if (o != b) others *= bottom[o]->data()[i];
          dx[i] = dy[i] * others;
        }
      }
    }
  }

 private:
  Scalar coeff(std::size_t b) const {
    return this->spec_.eltwise.coeff.empty() ? Scalar(1) : Scalar(this->spec_.eltwise.coeff[b]);
  }
  std::vector<int> argmax_;
};

template <class Scalar>
class SplitLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  void setup(const Blobs& bottom, std::mt19937_64&) override { this->require_bottoms(bottom, 1, 1); }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    for (auto* t : top) t->reshape_like(*bottom[0]);
  }
  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    for (auto* t : top) t->data_vector() = bottom[0]->data_vector();
  }
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (!propagate[0]) return;
    auto dx = bottom[0]->diff_vector();
    dx = top[0]->diff_vector();
    for (std::size_t t = 1; t < top.size(); ++t) dx += top[t]->diff_vector();
  }
};

}  // namespace deephash::nn
