#pragma once
// Convolution with groups, padding, stride and dilation, by im2col + matrix product, as Caffe
// computes it (so imported weights give the same outputs). Weights are (out, in / group, kh, kw).
//
// Per image and group g:   Y_g = W_g col_g + b,   dW_g += dY_g col_g^T,   dcol_g = W_g^T dY_g.
//
// 3x3 kernels with stride 1 and one group go through Winograd's F(2x2, 3x3) instead (winograd.hpp):
// 2.25x fewer multiplications, the same results up to rounding.

#include <optional>

#include "deephash/nn/filler.hpp"
#include "deephash/nn/im2col.hpp"
#include "deephash/nn/layer.hpp"
#include "deephash/nn/winograd.hpp"

namespace deephash::nn {

template <class Scalar>
class ConvolutionLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;
  using Matrix = typename Blob<Scalar>::Matrix;
  using MatrixMap = Eigen::Map<Matrix>;
  using ConstMatrixMap = Eigen::Map<const Matrix>;

 public:
  using Base::Base;
  std::size_t num_params() const override { return this->spec_.convolution.bias_term ? 2 : 1; }

  void setup(const Blobs& bottom, std::mt19937_64& rng) override {
    this->require_bottoms(bottom, 1, 1);
    this->require_axes(*bottom[0], 4, "input");
    const ConvolutionSpec& s = this->spec_.convolution;
    const int channels = bottom[0]->shape(1);
    if (s.num_output <= 0) this->fail("num_output must be positive");
    if (s.kernel_h <= 0 || s.kernel_w <= 0) this->fail("kernel size must be positive");
    if (s.stride_h <= 0 || s.stride_w <= 0 || s.dilation <= 0) this->fail("stride and dilation must be positive");
    if (s.group <= 0 || channels % s.group || s.num_output % s.group)
      this->fail("group " + std::to_string(s.group) + " must divide the input channels (" + std::to_string(channels) +
                 ") and num_output (" + std::to_string(s.num_output) + ")");
    if (this->params_.empty()) {
      fill(this->add_param({s.num_output, channels / s.group, s.kernel_h, s.kernel_w}), s.weight_filler, rng, this->name());
      if (s.bias_term) fill(this->add_param({s.num_output}), s.bias_filler, rng, this->name());
    }
  }

  void reshape(const Blobs& bottom, const Blobs& top) override {
    const ConvolutionSpec& s = this->spec_.convolution;
    const auto& w = *this->params_[0];
    if (bottom[0]->num_axes() != 4 || bottom[0]->shape(1) / s.group != w.shape(1))
      this->fail("input " + shape_text(bottom[0]->shape()) + " does not match weights " + shape_text(w.shape()));
    geometry_ = {bottom[0]->shape(1) / s.group, bottom[0]->shape(2), bottom[0]->shape(3), s.kernel_h, s.kernel_w,
                 s.pad_h, s.pad_w, s.stride_h, s.stride_w, s.dilation};
    if (geometry_.out_h() <= 0 || geometry_.out_w() <= 0)
      this->fail("input " + shape_text(bottom[0]->shape()) + " is smaller than the kernel");
    if (s.group == 1 && winograd_applies(geometry_)) {
      if (!winograd_ || !winograd_->same_shape(geometry_, s.num_output)) winograd_.emplace(geometry_, s.num_output);
    } else {
      winograd_.reset();
    }
    top[0]->reshape({bottom[0]->shape(0), s.num_output, geometry_.out_h(), geometry_.out_w()});
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) override {
    if (winograd_) return forward_winograd(bottom, top, ctx);
    const int groups = this->spec_.convolution.group;
    const Eigen::Index k = col_rows(), spatial = out_spatial(), out_g = this->spec_.convolution.num_output / groups;
    const std::size_t in_image = bottom[0]->count_from(1), out_image = top[0]->count_from(1);
    const std::size_t in_group = std::size_t(geometry_.channels) * geometry_.height * geometry_.width;
    const Scalar* w = this->params_[0]->data();
    const Scalar* bias = this->params_.size() > 1 ? this->params_[1]->data() : nullptr;
    prepare_buffers(ctx.num_chunks(std::size_t(bottom[0]->shape(0))), false);
    ctx.parallel_chunks(std::size_t(bottom[0]->shape(0)), [&](std::size_t chunk, std::size_t n0, std::size_t n1) {
      Scalar* col = columns_[chunk].data();
      for (std::size_t n = n0; n < n1; ++n)
        for (int g = 0; g < groups; ++g) {
          const Scalar* in = bottom[0]->data() + n * in_image + std::size_t(g) * in_group;
          const Scalar* c = direct() ? in : (im2col(in, geometry_, col), col);
          MatrixMap y(top[0]->data() + n * out_image + std::size_t(g * out_g * spatial), out_g, spatial);
          y.noalias() = ConstMatrixMap(w + std::size_t(g * out_g * k), out_g, k) * ConstMatrixMap(c, k, spatial);
          if (bias) y.colwise() += Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(bias + g * out_g, out_g);
        }
    });
  }

  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext& ctx) override {
    if (winograd_) return backward_winograd(top, propagate[0], bottom, ctx);
    const int groups = this->spec_.convolution.group;
    const Eigen::Index k = col_rows(), spatial = out_spatial(), out_g = this->spec_.convolution.num_output / groups;
    const std::size_t in_image = bottom[0]->count_from(1), out_image = top[0]->count_from(1);
    const std::size_t in_group = std::size_t(geometry_.channels) * geometry_.height * geometry_.width;
    const std::size_t batch = std::size_t(bottom[0]->shape(0));
    const std::size_t chunks = ctx.num_chunks(batch);
    const bool has_bias = this->params_.size() > 1;
    prepare_buffers(chunks, true);
    // Each chunk of images sums its weight and bias gradients apart; the sums are added at the end.
    weight_grads_.resize(chunks);
    bias_grads_.resize(chunks);
    const Scalar* w = this->params_[0]->data();
    ctx.parallel_chunks(batch, [&](std::size_t chunk, std::size_t n0, std::size_t n1) {
      Matrix& dw = weight_grads_[chunk];
      dw.setZero(groups * out_g, k);
      auto& db = bias_grads_[chunk];
      db.setZero(groups * out_g);
      Scalar* col = columns_[chunk].data();
      Scalar* dcol = column_grads_[chunk].data();
      for (std::size_t n = n0; n < n1; ++n) {
        if (propagate[0] && !direct())
          std::fill(bottom[0]->diff() + n * in_image, bottom[0]->diff() + (n + 1) * in_image, Scalar(0));
        for (int g = 0; g < groups; ++g) {
          const Scalar* in = bottom[0]->data() + n * in_image + std::size_t(g) * in_group;
          const Scalar* c = direct() ? in : (im2col(in, geometry_, col), col);
          const ConstMatrixMap dy(top[0]->diff() + n * out_image + std::size_t(g * out_g * spatial), out_g, spatial);
          dw.middleRows(g * out_g, out_g).noalias() += dy * ConstMatrixMap(c, k, spatial).transpose();
          if (has_bias) db.segment(g * out_g, out_g) += dy.rowwise().sum();
          if (!propagate[0]) continue;
          const ConstMatrixMap wg(w + std::size_t(g * out_g * k), out_g, k);
          if (direct()) {
            MatrixMap(bottom[0]->diff() + n * in_image + std::size_t(g) * in_group, k, spatial).noalias() =
                wg.transpose() * dy;
          } else {
            MatrixMap(dcol, k, spatial).noalias() = wg.transpose() * dy;
            col2im(dcol, geometry_, bottom[0]->diff() + n * in_image + std::size_t(g) * in_group);
          }
        }
      }
    });
    auto dw_total = this->params_[0]->diff_matrix(groups * out_g, k);
    for (const Matrix& dw : weight_grads_) dw_total += dw;
    if (has_bias)
      for (const auto& db : bias_grads_) this->params_[1]->diff_vector() += db;
  }

 private:
  void forward_winograd(const Blobs& bottom, const Blobs& top, const RunContext& ctx) {
    const Scalar* bias = this->params_.size() > 1 ? this->params_[1]->data() : nullptr;
    const std::size_t batch = std::size_t(bottom[0]->shape(0));
    const std::size_t in_image = bottom[0]->count_from(1), out_image = top[0]->count_from(1);
    winograd_->use_bf16(ctx.bf16_products);
    winograd_->set_kernels(this->params_[0]->data());
    workspaces_.resize(ctx.num_chunks(batch));
    ctx.parallel_chunks(batch, [&](std::size_t chunk, std::size_t n0, std::size_t n1) {
      for (std::size_t n = n0; n < n1; n += std::size_t(winograd_->images_per_block())) {
        const int images = int(std::min(n1 - n, std::size_t(winograd_->images_per_block())));
        winograd_->forward(workspaces_[chunk], bottom[0]->data() + n * in_image, images, bias,
                           top[0]->data() + n * out_image);
      }
    });
  }

  void backward_winograd(const Blobs& top, bool propagate, const Blobs& bottom, const RunContext& ctx) {
    const std::size_t batch = std::size_t(bottom[0]->shape(0));
    const std::size_t in_image = bottom[0]->count_from(1), out_image = top[0]->count_from(1);
    const std::size_t chunks = ctx.num_chunks(batch);
    const Eigen::Index spatial = out_spatial(), out = this->spec_.convolution.num_output;
    const bool has_bias = this->params_.size() > 1;
    winograd_->use_bf16(ctx.bf16_products);
    winograd_->set_kernels(this->params_[0]->data());
    workspaces_.resize(chunks);
    bias_grads_.resize(chunks);
    ctx.parallel_chunks(batch, [&](std::size_t chunk, std::size_t n0, std::size_t n1) {
      auto& ws = workspaces_[chunk];
      ws.kernel_grad.setZero(winograd::kPositions * out, geometry_.channels);
      bias_grads_[chunk].setZero(out);
      for (std::size_t n = n0; n < n1; n += std::size_t(winograd_->images_per_block())) {
        const int images = int(std::min(n1 - n, std::size_t(winograd_->images_per_block())));
        winograd_->backward(ws, bottom[0]->data() + n * in_image, top[0]->diff() + n * out_image, images,
                            propagate ? bottom[0]->diff() + n * in_image : nullptr);
      }
      if (has_bias)
        for (std::size_t n = n0; n < n1; ++n)
          bias_grads_[chunk] += ConstMatrixMap(top[0]->diff() + n * out_image, out, spatial).rowwise().sum();
    });
    for (std::size_t c = 1; c < chunks; ++c) workspaces_[0].kernel_grad += workspaces_[c].kernel_grad;
    winograd_->add_kernel_gradient(workspaces_[0].kernel_grad, this->params_[0]->diff());
    if (has_bias)
      for (std::size_t c = 0; c < chunks; ++c) this->params_[1]->diff_vector() += bias_grads_[c];
  }

  Eigen::Index col_rows() const { return Eigen::Index(geometry_.channels) * geometry_.kernel_h * geometry_.kernel_w; }
  Eigen::Index out_spatial() const { return Eigen::Index(geometry_.out_h()) * geometry_.out_w(); }
  // A 1x1 convolution with stride 1 and no padding reads its input as the column matrix.
  bool direct() const {
    return geometry_.kernel_h == 1 && geometry_.kernel_w == 1 && geometry_.stride_h == 1 && geometry_.stride_w == 1 &&
           geometry_.pad_h == 0 && geometry_.pad_w == 0;
  }
  // Column buffers per chunk of the batch; the gradient ones only when going backward.
  void prepare_buffers(std::size_t chunks, bool for_backward) {
    const std::size_t size = direct() ? 0 : std::size_t(col_rows() * out_spatial());
    columns_.resize(chunks);
    for (auto& b : columns_) b.resize(size);
    if (!for_backward) return;
    column_grads_.resize(chunks);
    for (auto& b : column_grads_) b.resize(size);
  }

  ConvGeometry geometry_{};
  std::vector<AlignedVector<Scalar>> columns_, column_grads_;  // per chunk of the batch
  std::vector<Matrix> weight_grads_;
  std::vector<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> bias_grads_;
  std::optional<Winograd3x3<Scalar>> winograd_;  // set by reshape when the geometry allows it
  std::vector<typename Winograd3x3<Scalar>::Workspace> workspaces_;  // per chunk of the batch
};

}  // namespace deephash::nn
