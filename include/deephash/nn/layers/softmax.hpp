#pragma once
// Softmax over the channel axis, the classification loss on top of it, and accuracy (reported,
// never trained). The loss is the mean over samples of -log p(label), as Caffe normalises it; with
// label smoothing s (SoftmaxSpec), of -sum_j t_j log p_j for the target t_j = s / C + (1 - s) [j = label],
// whose gradient is again p - t.

#include <cmath>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

namespace detail {
// Row-wise softmax of an n x c matrix, shifted by the row maximum for stability.
template <class Scalar, class In, class Out>
void softmax_rows(const In& x, Out& p) {
  p = (x.colwise() - x.rowwise().maxCoeff()).array().exp().matrix();
  p.array().colwise() /= p.rowwise().sum().array();
}

template <class Scalar>
int label_at(const Blob<Scalar>& labels, std::size_t i, int classes, const std::string& where) {
  const Scalar v = labels.data()[i];
  const int label = int(v);
  if (Scalar(label) != v || label < 0 || label >= classes)
    throw Error(where, "label " + std::to_string(double(v)) + " of sample " + std::to_string(i) +
                           " is not a class index in [0, " + std::to_string(classes) + ")");
  return label;
}
}  // namespace detail

template <class Scalar>
class SoftmaxLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 1, 1);
    if (this->spec_.softmax.axis != 1) this->fail("only axis 1 is supported");
  }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    if (bottom[0]->count_from(2) != 1) this->fail("expects (N x C) scores, got " + shape_text(bottom[0]->shape()));
    top[0]->reshape_like(*bottom[0]);
  }
  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    const Eigen::Index n = bottom[0]->shape(0), c = Eigen::Index(bottom[0]->count_from(1));
    auto p = top[0]->data_matrix(n, c);
    detail::softmax_rows<Scalar>(bottom[0]->data_matrix(n, c), p);
  }
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (!propagate[0]) return;
    const Eigen::Index n = top[0]->shape(0), c = Eigen::Index(top[0]->count_from(1));
    const auto p = top[0]->data_matrix(n, c);
    const auto dp = top[0]->diff_matrix(n, c);
    // dx = p * (dp - sum(dp * p))
    const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> dot = (dp.array() * p.array()).rowwise().sum();
    bottom[0]->diff_matrix(n, c).array() = p.array() * (dp.colwise() - dot).array();
  }
};

// bottoms: scores (N x C), labels (N). top: the loss.
template <class Scalar>
class SoftmaxWithLossLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  float default_loss_weight(std::size_t top) const override { return top == 0 ? 1.0f : 0.0f; }
  bool can_propagate(std::size_t bottom) const override { return bottom == 0; }

  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 2, 2);
    const float s = this->spec_.softmax.label_smoothing;
    if (!(s >= 0 && s < 1)) this->fail("label_smoothing must lie in [0, 1), not " + std::to_string(s));
  }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    if (bottom[0]->count_from(2) != 1) this->fail("expects (N x C) scores, got " + shape_text(bottom[0]->shape()));
    if (bottom[1]->count() != std::size_t(bottom[0]->shape(0)))
      this->fail(std::to_string(bottom[0]->shape(0)) + " score rows but " + std::to_string(bottom[1]->count()) + " labels");
    top[0]->reshape({1});
    if (top.size() > 1) top[1]->reshape_like(*bottom[0]);
  }
  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    const Eigen::Index n = bottom[0]->shape(0), c = Eigen::Index(bottom[0]->count_from(1));
    prob_.resize(n, c);
    detail::softmax_rows<Scalar>(bottom[0]->data_matrix(n, c), prob_);
    const double smoothing = this->spec_.softmax.label_smoothing;
    double loss = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const int label = detail::label_at(*bottom[1], std::size_t(i), int(c), "layer '" + this->name() + "'");
      auto log_p = [&](Eigen::Index j) { return std::log(std::max(double(prob_(i, j)), 1e-37)); };
      loss -= (1 - smoothing) * log_p(label);
      if (smoothing > 0)
        for (Eigen::Index j = 0; j < c; ++j) loss -= smoothing / double(c) * log_p(j);
    }
    top[0]->data()[0] = Scalar(loss / double(std::max<Eigen::Index>(n, 1)));
    if (top.size() > 1) top[1]->data_matrix(n, c) = prob_;
  }
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (!propagate[0]) return;
    const Eigen::Index n = bottom[0]->shape(0), c = Eigen::Index(bottom[0]->count_from(1));
    auto dx = bottom[0]->diff_matrix(n, c);
    const Scalar smoothing = Scalar(this->spec_.softmax.label_smoothing);
    dx = prob_.array() - smoothing / Scalar(c);
    for (Eigen::Index i = 0; i < n; ++i) dx(i, Eigen::Index(bottom[1]->data()[i])) -= Scalar(1) - smoothing;
    dx *= top[0]->diff()[0] / Scalar(std::max<Eigen::Index>(n, 1));
  }

 private:
  typename Blob<Scalar>::Matrix prob_;
};

// Fraction of samples whose highest score is their label. No gradient.
template <class Scalar>
class AccuracyLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  bool can_propagate(std::size_t) const override { return false; }
  void setup(const Blobs& bottom, std::mt19937_64&) override { this->require_bottoms(bottom, 2, 2); }
  void reshape(const Blobs& bottom, const Blobs& top) override {
    if (bottom[1]->count() != std::size_t(bottom[0]->shape(0)))
      this->fail(std::to_string(bottom[0]->shape(0)) + " score rows but " + std::to_string(bottom[1]->count()) + " labels");
    top[0]->reshape({1});
  }
  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    const Eigen::Index n = bottom[0]->shape(0), c = Eigen::Index(bottom[0]->count_from(1));
    const auto scores = bottom[0]->data_matrix(n, c);
    std::size_t correct = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      Eigen::Index best;
      scores.row(i).maxCoeff(&best);
      correct += best == Eigen::Index(bottom[1]->data()[i]);
    }
    top[0]->data()[0] = n ? Scalar(correct) / Scalar(n) : Scalar(0);
  }
  void backward(const Blobs&, const std::vector<bool>&, const Blobs&, const RunContext&) override {}
};

}  // namespace deephash::nn
