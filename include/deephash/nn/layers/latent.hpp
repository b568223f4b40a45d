#pragma once
// deephash's latent hash layer, the paper's contribution: a = sigmoid(W x + b) over the flattened
// input, whose bits are a > 0.5; weights are (outputs, inputs), Caffe's layout. Optionally a
// second top carries the SSDH losses that push activations towards 0 or 1 and balance the bits.

#include "deephash/nn/filler.hpp"
#include "deephash/nn/layer.hpp"
#include "deephash/nn/layers/activations.hpp"
#include "deephash/nn/layers/inner_product.hpp"

namespace deephash::nn {

// Inner product + sigmoid, with the optional SSDH losses as a second top (see LatentSpec).
template <class Scalar>
class LatentLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

 public:
  using Base::Base;
  std::size_t num_params() const override { return 2; }

  float default_loss_weight(std::size_t top) const override { return top == 1 ? 1.0f : 0.0f; }

  void setup(const Blobs& bottom, std::mt19937_64& rng) override {
    this->require_bottoms(bottom, 1, 1);
    const LatentSpec& s = this->spec_.latent;
    if (s.num_output <= 0) this->fail("num_output must be positive");
    if (this->spec_.tops.size() > 2) this->fail("has at most two outputs: activations and the SSDH loss");
    if (this->params_.empty()) {
      fill(this->add_param({s.num_output, int(bottom[0]->count_from(1))}), s.weight_filler, rng, this->name());
      fill(this->add_param({s.num_output}), s.bias_filler, rng, this->name());
    }
  }

  void reshape(const Blobs& bottom, const Blobs& top) override {
    if (int(bottom[0]->count_from(1)) != this->params_[0]->shape(1))
      this->fail("input " + shape_text(bottom[0]->shape()) + " does not match the weights " +
                 shape_text(this->params_[0]->shape()));
    top[0]->reshape({bottom[0]->shape(0), this->spec_.latent.num_output});
    if (top.size() > 1) top[1]->reshape({1});
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const Eigen::Index k = this->params_[0]->shape(1), out = this->params_[0]->shape(0), n = bottom[0]->shape(0);
    DenseProduct<Scalar>::forward(bottom[0]->data(), this->params_[0]->data(), this->params_[1]->data(),
                                  top[0]->data(), n, k, out, ctx);
    auto a = top[0]->data_vector();
    a = a.unaryExpr([](Scalar v) { return SigmoidLayer<Scalar>::sigmoid(v); });
    if (top.size() > 1) {
      const LatentSpec& s = this->spec_.latent;
      const auto act = top[0]->data_matrix(n, out).array() - Scalar(0.5);
      const Scalar binarization = -act.square().mean();
      const Scalar balance = act.rowwise().mean().square().mean();
      top[1]->data()[0] = Scalar(s.binarization_weight) * binarization + Scalar(s.balance_weight) * balance;
    }
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    const Eigen::Index k = this->params_[0]->shape(1), out = this->params_[0]->shape(0), n = bottom[0]->shape(0);
    const auto a = top[0]->data_matrix(n, out).array();
    Array da = top[0]->diff_matrix(n, out).array();
    if (top.size() > 1 && top[1]->diff()[0] != Scalar(0)) {
      const LatentSpec& s = this->spec_.latent;
      const Scalar weight = top[1]->diff()[0];
      const Array centred = a - Scalar(0.5);
      da += weight * Scalar(s.binarization_weight) * Scalar(-2) / Scalar(n * out) * centred;
      const auto code_mean = centred.rowwise().mean();  // per sample, minus 0.5
      da.colwise() += (weight * Scalar(s.balance_weight) * Scalar(2) / Scalar(n * out) * code_mean);
    }
    dz_.resize(n, out);
    dz_ = da * a * (Scalar(1) - a);
    DenseProduct<Scalar>::backward(bottom[0]->data(), this->params_[0]->data(), dz_.data(), this->params_[0]->diff(),
                                   this->params_[1]->diff(), propagate[0] ? bottom[0]->diff() : nullptr, n, k, out, ctx);
  }

 private:
  Array dz_;
};

}  // namespace deephash::nn
