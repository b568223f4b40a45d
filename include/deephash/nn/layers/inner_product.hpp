#pragma once
// The fully connected layer: the inner product y = W x + b over the dimensions from `axis` on.
// Weights are (outputs, inputs), Caffe's layout. The latent hash layer (latent.hpp) is built on
// the same dense product.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "deephash/nn/bf16_products.hpp"
#include "deephash/nn/filler.hpp"
#include "deephash/nn/layer.hpp"

namespace deephash::nn {

// The dense product, shared with the latent layer: rows of X (N x K) are samples. With
// `bf16` (per-thread buffers, where RunContext::bf16_products allows them and Scalar is float)
// the three products take bfloat16 operands with float sums (nn/bf16_products.hpp).
template <class Scalar>
struct DenseProduct {
  using Matrix = typename Blob<Scalar>::Matrix;
  using Map = Eigen::Map<Matrix>;
  using ConstMap = Eigen::Map<const Matrix>;
  static constexpr bool kCanUseBf16 = std::is_same_v<Scalar, float> && bf16::available();

  // Y = X W^T + b, split over outputs: each thread reads only its rows of W, which for a large
  // layer at a small batch (fc6: 151 MB of weights, 32 samples) is what the time goes to.
  static void forward(const Scalar* x, const Scalar* w, const Scalar* b, Scalar* y, Eigen::Index n,
                      Eigen::Index k, Eigen::Index out, const RunContext& ctx,
                      std::vector<bf16::Workspace>* bf16 = nullptr) {
    const ConstMap xs(x, n, k);
    Map ys(y, n, out);
    if (bf16) bf16->resize(ctx.num_chunks(std::size_t(out)));
    ctx.parallel_chunks(std::size_t(out), [&](std::size_t chunk, std::size_t o0, std::size_t o1) {
      const Eigen::Index cols = Eigen::Index(o1 - o0);
      auto yc = ys.middleCols(Eigen::Index(o0), cols);
      if constexpr (kCanUseBf16) {
        if (bf16)  // Y[:, o0:o1] = X W[o0:o1]^T
          bf16::multiply({x, k}, {w + o0 * k, k, true}, n, k, cols, y + o0, out, false, (*bf16)[chunk]);
        else
          yc.noalias() = xs * ConstMap(w + o0 * k, cols, k).transpose();
      } else {
        yc.noalias() = xs * ConstMap(w + o0 * k, cols, k).transpose();
      }
      if (b) yc.rowwise() += Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(b + o0, cols);
    });
  }

  // dW += dY^T X (split over outputs), db += column sums of dY, dX = dY W (split over samples).
  static void backward(const Scalar* x, const Scalar* w, const Scalar* dy, Scalar* dw, Scalar* db, Scalar* dx,
                       Eigen::Index n, Eigen::Index k, Eigen::Index out, const RunContext& ctx,
                       std::vector<bf16::Workspace>* bf16 = nullptr) {
    const ConstMap dys(dy, n, out);
    if (bf16) bf16->resize(std::max(ctx.num_chunks(std::size_t(out)), ctx.num_chunks(std::size_t(n))));
    ctx.parallel_chunks(std::size_t(out), [&](std::size_t chunk, std::size_t o0, std::size_t o1) {
      const Eigen::Index rows = Eigen::Index(o1 - o0);
      bool done = false;
      if constexpr (kCanUseBf16)
        if (bf16) {  // dW[o0:o1] += dY[:, o0:o1]^T X
          bf16::multiply({dy + o0, out, true}, {x, k}, rows, n, k, dw + o0 * k, k, true, (*bf16)[chunk]);
          done = true;
        }
      if (!done) Map(dw + o0 * k, rows, k).noalias() += dys.middleCols(Eigen::Index(o0), rows).transpose() * ConstMap(x, n, k);
      if (db)
        for (std::size_t o = o0; o < o1; ++o) db[o] += dys.col(Eigen::Index(o)).sum();
    });
    if (!dx) return;
    const ConstMap weights(w, out, k);
    ctx.parallel_chunks(std::size_t(n), [&](std::size_t chunk, std::size_t r0, std::size_t r1) {
      const Eigen::Index rows = Eigen::Index(r1 - r0);
      if constexpr (kCanUseBf16)
        if (bf16) {  // dX[r0:r1] = dY[r0:r1] W
          bf16::multiply({dy + r0 * out, out}, {w, k}, rows, out, k, dx + r0 * k, k, false, (*bf16)[chunk]);
          return;
        }
      Map(dx + r0 * k, rows, k).noalias() = dys.middleRows(Eigen::Index(r0), rows) * weights;
    });
  }
};

template <class Scalar>
class InnerProductLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  std::size_t num_params() const override { return this->spec_.inner_product.bias_term ? 2 : 1; }

  void setup(const Blobs& bottom, std::mt19937_64& rng) override {
    this->require_bottoms(bottom, 1, 1);
    const InnerProductSpec& s = this->spec_.inner_product;
    if (s.num_output <= 0) this->fail("num_output must be positive");
    if (s.axis < 1 || s.axis > bottom[0]->num_axes()) this->fail("axis out of range for " + shape_text(bottom[0]->shape()));
    if (this->params_.empty()) {
      fill(this->add_param({s.num_output, int(bottom[0]->count_from(s.axis))}), s.weight_filler, rng, this->name());
      if (s.bias_term) fill(this->add_param({s.num_output}), s.bias_filler, rng, this->name());
    }
  }

  void reshape(const Blobs& bottom, const Blobs& top) override {
    const InnerProductSpec& s = this->spec_.inner_product;
    if (int(bottom[0]->count_from(s.axis)) != this->params_[0]->shape(1))
      this->fail("input " + shape_text(bottom[0]->shape()) + " has " + std::to_string(bottom[0]->count_from(s.axis)) +
                 " features, the weights expect " + std::to_string(this->params_[0]->shape(1)));
    std::vector<int> shape(bottom[0]->shape().begin(), bottom[0]->shape().begin() + s.axis);
    shape.push_back(s.num_output);
    top[0]->reshape(shape);
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    const Eigen::Index k = this->params_[0]->shape(1), out = this->params_[0]->shape(0);
    DenseProduct<Scalar>::forward(bottom[0]->data(), this->params_[0]->data(),
                                  this->params_.size() > 1 ? this->params_[1]->data() : nullptr, top[0]->data(),
                                  Eigen::Index(bottom[0]->count()) / k, k, out, ctx, bf16_workspaces(ctx));
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    const Eigen::Index k = this->params_[0]->shape(1), out = this->params_[0]->shape(0);
    DenseProduct<Scalar>::backward(bottom[0]->data(), this->params_[0]->data(), top[0]->diff(),
                                   this->params_[0]->diff(), this->params_.size() > 1 ? this->params_[1]->diff() : nullptr,
                                   propagate[0] ? bottom[0]->diff() : nullptr, Eigen::Index(bottom[0]->count()) / k, k,
                                   out, ctx, bf16_workspaces(ctx));
  }

 private:
  // The bf16 products' buffers when the context asks for them and they can run, else null.
  std::vector<bf16::Workspace>* bf16_workspaces(const RunContext& ctx) {
    return DenseProduct<Scalar>::kCanUseBf16 && ctx.bf16_products ? &bf16_ : nullptr;
  }
  std::vector<bf16::Workspace> bf16_;  // per chunk of the work
};

}  // namespace deephash::nn
