// The GPU layers (see gpu_layers.hpp).

#include "gpu_layers.hpp"

#include <algorithm>
#include <type_traits>

#include "deephash/nn/im2col.hpp"
#include "deephash/nn/layer_types.hpp"
#include "deephash/nn/layers/concat.hpp"
#include "deephash/nn/layers/pooling.hpp"
#include "deephash/nn/layers/reshape.hpp"
#include "kernels.hpp"

namespace deephash::cuda::detail {

void gemm(const GpuContext& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          long long stride_a, const float* b, int ldb, long long stride_b, float beta, float* c, int ldc, long long stride_c,
          int batch) {
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const cublasComputeType_t compute = ctx.math == MathMode::TF32   ? CUBLAS_COMPUTE_32F_FAST_TF32
                                      : ctx.math == MathMode::BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF
                                                                   : CUBLAS_COMPUTE_32F;
  check(cublasGemmStridedBatchedEx(ctx.cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                   &alpha, b, CUDA_R_32F, ldb, stride_b, a, CUDA_R_32F, lda, stride_a, &beta, c, CUDA_R_32F, ldc,
                                   stride_c, batch, compute, CUBLAS_GEMM_DEFAULT),
        "matrix product");
}

namespace {

using namespace deephash::nn;
namespace k = kernels;

class Convolution : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    const ConvolutionSpec& s = spec_.convolution;
    if (bottom[0]->shape.size() != 4) fail("input must have 4 axes, got " + shape_text(bottom[0]->shape));
    geometry_ = {bottom[0]->dim(1) / s.group, bottom[0]->dim(2), bottom[0]->dim(3), s.kernel_h, s.kernel_w, s.pad_h, s.pad_w,
                 s.stride_h, s.stride_w, s.dilation};
    top[0]->reshape({bottom[0]->dim(0), s.num_output, geometry_.out_h(), geometry_.out_w()});
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    const int n = bottom[0]->dim(0), groups = spec_.convolution.group, out_g = spec_.convolution.num_output / groups;
    const int rows = geometry_.channels * geometry_.kernel_h * geometry_.kernel_w, spatial = geometry_.out_h() * geometry_.out_w();
    const int channels = bottom[0]->dim(1);
    const int chunk = images_per_chunk(n, rows, spatial);
    for (int n0 = 0; n0 < n; n0 += chunk) {
      const int count = std::min(chunk, n - n0);
      for (int g = 0; g < groups; ++g) {
        k::im2col(bottom[0]->data.data() + std::size_t(n0) * bottom[0]->count_from(1), count, channels, g, shape(), columns_.data(), ctx.stream);
        // Y_i (out_g x spatial) = W_g (out_g x rows) col_i (rows x spatial), for each image of the chunk.
        gemm(ctx, false, false, out_g, spatial, rows, 1.0f, params_[0]->data.data() + std::size_t(g) * out_g * rows, rows, 0,
             columns_.data(), spatial, (long long)rows * spatial, 0.0f,
             top[0]->data.data() + std::size_t(n0) * top[0]->count_from(1) + std::size_t(g) * out_g * spatial, spatial,
             (long long)top[0]->count_from(1), count);
      }
    }
    if (params_.size() > 1) k::add_channel_bias(top[0]->data.data(), params_[1]->data.data(), n, spec_.convolution.num_output, spatial, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    const int n = bottom[0]->dim(0), groups = spec_.convolution.group, out_g = spec_.convolution.num_output / groups;
    const int rows = geometry_.channels * geometry_.kernel_h * geometry_.kernel_w, spatial = geometry_.out_h() * geometry_.out_w();
    const int channels = bottom[0]->dim(1);
    if (params_.size() > 1) k::add_channel_sums(top[0]->diff.data(), n, spec_.convolution.num_output, spatial, params_[1]->diff.data(), ctx.stream);
    if (propagate[0]) bottom[0]->diff.zero(ctx.stream);
    const int chunk = images_per_chunk(n, rows, spatial);
    column_grads_.resize(std::size_t(rows) * spatial);
    for (int n0 = 0; n0 < n; n0 += chunk) {
      const int count = std::min(chunk, n - n0);
      for (int g = 0; g < groups; ++g) {
        k::im2col(bottom[0]->data.data() + std::size_t(n0) * bottom[0]->count_from(1), count, channels, g, shape(), columns_.data(), ctx.stream);
        for (int i = 0; i < count; ++i) {
          const float* dy = top[0]->diff.data() + std::size_t(n0 + i) * top[0]->count_from(1) + std::size_t(g) * out_g * spatial;
          // dW_g += dY_i col_i^T
          gemm(ctx, false, true, out_g, rows, spatial, 1.0f, dy, spatial, 0, columns_.data() + std::size_t(i) * rows * spatial,
               spatial, 0, 1.0f, params_[0]->diff.data() + std::size_t(g) * out_g * rows, rows, 0);
          if (!propagate[0]) continue;
          // dcol = W_g^T dY_i, then back onto the image.
          gemm(ctx, true, false, rows, spatial, out_g, 1.0f, params_[0]->data.data() + std::size_t(g) * out_g * rows, rows, 0, dy,
               spatial, 0, 0.0f, column_grads_.data(), spatial, 0);
          k::col2im(column_grads_.data(), shape(), channels, g, bottom[0]->diff.data() + std::size_t(n0 + i) * bottom[0]->count_from(1), ctx.stream);
        }
      }
    }
  }

 private:
  kernels::ConvShape shape() const {
    return {geometry_.channels, geometry_.height, geometry_.width, geometry_.kernel_h, geometry_.kernel_w, geometry_.pad_h,
            geometry_.pad_w, geometry_.stride_h, geometry_.stride_w, geometry_.dilation, geometry_.out_h(), geometry_.out_w()};
  }
  // Images whose columns fit a 256 MiB buffer (at least one).
  int images_per_chunk(int n, int rows, int spatial) {
    const std::size_t per_image = std::size_t(rows) * spatial;
    const int chunk = std::max(1, std::min(n, int((std::size_t(64) << 20) / std::max<std::size_t>(per_image, 1))));
    columns_.resize(per_image * std::size_t(chunk));
    return chunk;
  }
  ConvGeometry geometry_{};
  DeviceArray<float> columns_, column_grads_;
};

class Pooling : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    const PoolingSpec& p = spec_.pooling;
    if (bottom[0]->shape.size() != 4) fail("input must have 4 axes, got " + shape_text(bottom[0]->shape));
    const int h = bottom[0]->dim(2), w = bottom[0]->dim(3);
    const int kh = p.global_pooling ? h : p.kernel_h, kw = p.global_pooling ? w : p.kernel_w;
    const int sh = p.global_pooling ? 1 : p.stride_h, sw = p.global_pooling ? 1 : p.stride_w;
    const int ph = p.global_pooling ? 0 : p.pad_h, pw = p.global_pooling ? 0 : p.pad_w;
    s_ = {bottom[0]->dim(0) * bottom[0]->dim(1), h, w, pooled_size(h, kh, ph, sh, p.round_mode), pooled_size(w, kw, pw, sw, p.round_mode), kh, kw, sh, sw, ph, pw};
    top[0]->reshape({bottom[0]->dim(0), bottom[0]->dim(1), s_.out_h, s_.out_w});
    if (p.method == PoolingSpec::Method::Max) argmax_.resize(top[0]->count);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    if (spec_.pooling.method == PoolingSpec::Method::Max)
      k::max_pool_forward(bottom[0]->data.data(), top[0]->data.data(), argmax_.data(), s_, ctx.stream);
    else
      k::average_pool_forward(bottom[0]->data.data(), top[0]->data.data(), s_, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (!propagate[0]) return;
    if (spec_.pooling.method == PoolingSpec::Method::Max)
      k::max_pool_backward(top[0]->diff.data(), argmax_.data(), bottom[0]->diff.data(), s_, ctx.stream);
    else
      k::average_pool_backward(top[0]->diff.data(), bottom[0]->diff.data(), s_, ctx.stream);
  }

 private:
  kernels::PoolShape s_{};
  DeviceArray<int> argmax_;
};

class Relu : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override { top[0]->reshape(bottom[0]->shape); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    positive_.resize(bottom[0]->count);
    k::relu_forward(bottom[0]->data.data(), top[0]->data.data(), positive_.data(), bottom[0]->count, spec_.relu.negative_slope, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (propagate[0]) k::relu_backward(top[0]->diff.data(), positive_.data(), bottom[0]->diff.data(), top[0]->count, spec_.relu.negative_slope, ctx.stream);
  }

 private:
  DeviceArray<std::uint8_t> positive_;
};

class Sigmoid : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override { top[0]->reshape(bottom[0]->shape); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    k::sigmoid_forward(bottom[0]->data.data(), top[0]->data.data(), bottom[0]->count, ctx.stream);
    output_.resize(top[0]->count);  // kept: a later in-place layer may rewrite the top
    copy_on_device(output_.data(), top[0]->data.data(), top[0]->count, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (propagate[0]) k::sigmoid_backward(output_.data(), top[0]->diff.data(), bottom[0]->diff.data(), top[0]->count, ctx.stream);
  }

 private:
  DeviceArray<float> output_;
};

class Dropout : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override { top[0]->reshape(bottom[0]->shape); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    training_ = ctx.phase == Phase::Train;
    if (!training_) {
      if (top[0] != bottom[0])
        copy_on_device(top[0]->data.data(), bottom[0]->data.data(), bottom[0]->count, ctx.stream);
      return;
    }
    mask_.resize(bottom[0]->count);
    k::dropout_forward(bottom[0]->data.data(), top[0]->data.data(), mask_.data(), bottom[0]->count, spec_.dropout.ratio,
                       ctx.seed ^ std::hash<std::string>{}(spec_.name), ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (!propagate[0]) return;
    if (training_)
      k::multiply(top[0]->diff.data(), mask_.data(), bottom[0]->diff.data(), top[0]->count, ctx.stream);
    else if (top[0] != bottom[0])
      copy_on_device(bottom[0]->diff.data(), top[0]->diff.data(), top[0]->count, ctx.stream);
  }

 private:
  bool training_ = false;
  DeviceArray<float> mask_;
};

class Lrn : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    top[0]->reshape(bottom[0]->shape);
    scale_.resize(bottom[0]->count);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    const LrnSpec& s = spec_.lrn;
    k::lrn_forward(bottom[0]->data.data(), scale_.data(), top[0]->data.data(), bottom[0]->dim(0), bottom[0]->dim(1),
                   int(bottom[0]->count_from(2)), s.local_size, s.alpha, s.beta, s.k, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (!propagate[0]) return;
    const LrnSpec& s = spec_.lrn;
    k::lrn_backward(bottom[0]->data.data(), top[0]->data.data(), scale_.data(), top[0]->diff.data(), bottom[0]->diff.data(),
                    bottom[0]->dim(0), bottom[0]->dim(1), int(bottom[0]->count_from(2)), s.local_size, s.alpha, s.beta, ctx.stream);
  }

 private:
  DeviceArray<float> scale_;
};

// Y (n x out) = X (n x in) W^T + b, and its gradients.
void dense_forward(const GpuContext& ctx, const float* x, const GpuBlob& w, const GpuBlob* b, float* y, int n) {
  const int out = w.dim(0), in = int(w.count_from(1));
  gemm(ctx, false, true, n, out, in, 1.0f, x, in, 0, w.data.data(), in, 0, 0.0f, y, out, 0);
  if (b) k::add_row_bias(y, b->data.data(), n, out, ctx.stream);
}
void dense_backward(const GpuContext& ctx, const float* x, GpuBlob& w, GpuBlob* b, const float* dy, float* dx, int n) {
  const int out = w.dim(0), in = int(w.count_from(1));
  gemm(ctx, true, false, out, in, n, 1.0f, dy, out, 0, x, in, 0, 1.0f, w.diff.data(), in, 0);
  if (b) k::add_column_sums(dy, n, out, b->diff.data(), ctx.stream);
  if (dx) gemm(ctx, false, false, n, in, out, 1.0f, dy, out, 0, w.data.data(), in, 0, 0.0f, dx, in, 0);
}

class InnerProduct : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    const int axis = spec_.inner_product.axis;
    if (int(bottom[0]->count_from(axis)) != int(params_[0]->count_from(1)))
      fail("input " + shape_text(bottom[0]->shape) + " does not match the weights " + shape_text(params_[0]->shape));
    std::vector<int> shape(bottom[0]->shape.begin(), bottom[0]->shape.begin() + axis);
    shape.push_back(spec_.inner_product.num_output);
    top[0]->reshape(shape);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    dense_forward(ctx, bottom[0]->data.data(), *params_[0], params_.size() > 1 ? params_[1].get() : nullptr, top[0]->data.data(), rows(*bottom[0]));
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    dense_backward(ctx, bottom[0]->data.data(), *params_[0], params_.size() > 1 ? params_[1].get() : nullptr, top[0]->diff.data(),
                   propagate[0] ? bottom[0]->diff.data() : nullptr, rows(*bottom[0]));
  }

 private:
  int rows(const GpuBlob& b) const { return int(b.count / params_[0]->count_from(1)); }
};

class Latent : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    top[0]->reshape({bottom[0]->dim(0), spec_.latent.num_output});
    if (top.size() > 1) top[1]->reshape({1});
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    const int n = bottom[0]->dim(0);
    dense_forward(ctx, bottom[0]->data.data(), *params_[0], params_[1].get(), top[0]->data.data(), n);
    k::sigmoid_forward(top[0]->data.data(), top[0]->data.data(), top[0]->count, ctx.stream);
    if (top.size() > 1)
      k::latent_losses(top[0]->data.data(), n, spec_.latent.num_output, spec_.latent.binarization_weight,
                       spec_.latent.balance_weight, top[1]->data.data(), ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    const int n = bottom[0]->dim(0);
    dz_.resize(top[0]->count);
    k::latent_backward(top[0]->data.data(), top[0]->diff.data(), top.size() > 1 ? top[1]->diff.data() : nullptr, n,
                       spec_.latent.num_output, spec_.latent.binarization_weight, spec_.latent.balance_weight, dz_.data(), ctx.stream);
    dense_backward(ctx, bottom[0]->data.data(), *params_[0], params_[1].get(), dz_.data(), propagate[0] ? bottom[0]->diff.data() : nullptr, n);
  }

 private:
  DeviceArray<float> dz_;
};

class Softmax : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override { top[0]->reshape(bottom[0]->shape); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    k::softmax_rows(bottom[0]->data.data(), top[0]->data.data(), bottom[0]->dim(0), int(bottom[0]->count_from(1)), ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (propagate[0])
      k::softmax_backward(top[0]->data.data(), top[0]->diff.data(), bottom[0]->diff.data(), top[0]->dim(0), int(top[0]->count_from(1)), ctx.stream);
  }
};

class SoftmaxWithLoss : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    if (bottom[1]->count != std::size_t(bottom[0]->dim(0)))
      fail(std::to_string(bottom[0]->dim(0)) + " score rows but " + std::to_string(bottom[1]->count) + " labels");
    top[0]->reshape({1});
    if (top.size() > 1) top[1]->reshape(bottom[0]->shape);
    prob_.resize(bottom[0]->count);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    const int n = bottom[0]->dim(0), c = int(bottom[0]->count_from(1));
    k::softmax_rows(bottom[0]->data.data(), prob_.data(), n, c, ctx.stream);
    bad_.resize(1);
    bad_.zero(ctx.stream);
    k::softmax_loss(prob_.data(), bottom[1]->data.data(), n, c, spec_.softmax.label_smoothing, top[0]->data.data(), bad_.data(),
                    ctx.stream);
    int bad = 0;
    check(cudaMemcpyAsync(&bad, bad_.data(), sizeof bad, cudaMemcpyDeviceToHost, ctx.stream), "copy");
    check(cudaStreamSynchronize(ctx.stream), "running the loss");
    if (bad) fail("the label of sample " + std::to_string(bad - 1) + " is not a class index in [0, " + std::to_string(c) + ")");
    if (top.size() > 1)
      copy_on_device(top[1]->data.data(), prob_.data(), prob_.size(), ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (propagate[0])
      k::softmax_loss_backward(prob_.data(), bottom[1]->data.data(), top[0]->diff.data(), bottom[0]->diff.data(), bottom[0]->dim(0),
                               int(bottom[0]->count_from(1)), spec_.softmax.label_smoothing, ctx.stream);
  }

 private:
  DeviceArray<float> prob_;
  DeviceArray<int> bad_;
};

class Accuracy : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs&, const GpuBlobs& top) override { top[0]->reshape({1}); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    k::accuracy(bottom[0]->data.data(), bottom[1]->data.data(), bottom[0]->dim(0), int(bottom[0]->count_from(1)), top[0]->data.data(), ctx.stream);
  }
  void backward(const GpuBlobs&, const std::vector<bool>&, const GpuBlobs&, const GpuContext&) override {}
};

class BatchNorm : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    top[0]->reshape(bottom[0]->shape);
    mean_.resize(std::size_t(bottom[0]->dim(1)));
    variance_.resize(std::size_t(bottom[0]->dim(1)));
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    const BatchNormSpec& s = spec_.batch_norm;
    const int n = bottom[0]->dim(0), c = bottom[0]->dim(1), plane = int(bottom[0]->count_from(2));
    global_ = s.use_global_stats.value_or(ctx.phase == Phase::Test);
    if (global_) {
      k::batch_norm_forward(bottom[0]->data.data(), params_[0]->data.data(), params_[1]->data.data(), params_[2]->data.data(),
                            s.eps, top[0]->data.data(), n, c, plane, ctx.stream);
      return;
    }
    k::channel_mean_variance(bottom[0]->data.data(), n, c, plane, mean_.data(), variance_.data(), ctx.stream);
    const double count = double(n) * plane;
    k::batch_norm_update_running(params_[0]->data.data(), params_[1]->data.data(), params_[2]->data.data(), mean_.data(),
                                 variance_.data(), s.moving_average_fraction, count > 1 ? float(count / (count - 1)) : 1.0f, c, ctx.stream);
    k::batch_norm_forward(bottom[0]->data.data(), mean_.data(), variance_.data(), nullptr, s.eps, top[0]->data.data(), n, c, plane, ctx.stream);
    normalized_.resize(top[0]->count);  // kept: later in-place layers rewrite the top
    copy_on_device(normalized_.data(), top[0]->data.data(), top[0]->count, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (!propagate[0]) return;
    const int n = top[0]->dim(0), c = top[0]->dim(1), plane = int(top[0]->count_from(2));
    k::batch_norm_backward(normalized_.data(), top[0]->diff.data(), global_ ? params_[1]->data.data() : variance_.data(),
                           global_ ? params_[2]->data.data() : nullptr, spec_.batch_norm.eps, global_, bottom[0]->diff.data(), n, c,
                           plane, ctx.stream);
  }

 private:
  bool global_ = false;
  DeviceArray<float> mean_, variance_, normalized_;
};

class Scale : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override { top[0]->reshape(bottom[0]->shape); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    input_.resize(bottom[0]->count);  // kept: the gain's gradient needs the input, which running in place overwrites
    copy_on_device(input_.data(), bottom[0]->data.data(), bottom[0]->count, ctx.stream);
    k::scale_forward(input_.data(), params_[0]->data.data(), params_.size() > 1 ? params_[1]->data.data() : nullptr, top[0]->data.data(),
                     bottom[0]->dim(0), bottom[0]->dim(1), int(bottom[0]->count_from(2)), ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    k::scale_backward(input_.data(), top[0]->diff.data(), params_[0]->data.data(), params_[0]->diff.data(),
                      params_.size() > 1 ? params_[1]->diff.data() : nullptr, propagate[0] ? bottom[0]->diff.data() : nullptr,
                      top[0]->dim(0), top[0]->dim(1), int(top[0]->count_from(2)), ctx.stream);
  }

 private:
  DeviceArray<float> input_;
};

class Eltwise : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    for (const GpuBlob* b : bottom)
      if (b->shape != bottom[0]->shape) fail("inputs differ in shape: " + shape_text(bottom[0]->shape) + " and " + shape_text(b->shape));
    top[0]->reshape(bottom[0]->shape);
    if (spec_.eltwise.operation == EltwiseSpec::Operation::Max) argmax_.resize(top[0]->count);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    const std::size_t n = top[0]->count;
    switch (spec_.eltwise.operation) {
      case EltwiseSpec::Operation::Sum:
        for (std::size_t b = 0; b < bottom.size(); ++b) k::axpby(bottom[b]->data.data(), coeff(b), top[0]->data.data(), b ? 1.0f : 0.0f, n, ctx.stream);
        break;
      case EltwiseSpec::Operation::Product: k::eltwise_product(inputs(bottom).data(), int(bottom.size()), top[0]->data.data(), n, ctx.stream); break;
      case EltwiseSpec::Operation::Max: k::eltwise_max(inputs(bottom).data(), int(bottom.size()), top[0]->data.data(), argmax_.data(), n, ctx.stream); break;
    }
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    const std::size_t n = top[0]->count;
    for (std::size_t b = 0; b < bottom.size(); ++b) {
      if (!propagate[b]) continue;
      switch (spec_.eltwise.operation) {
        case EltwiseSpec::Operation::Sum: k::axpby(top[0]->diff.data(), coeff(b), bottom[b]->diff.data(), 0.0f, n, ctx.stream); break;
        case EltwiseSpec::Operation::Product:
          k::eltwise_product_backward(inputs(bottom).data(), int(bottom.size()), int(b), top[0]->diff.data(), bottom[b]->diff.data(), n, ctx.stream);
          break;
        case EltwiseSpec::Operation::Max: k::eltwise_max_backward(argmax_.data(), int(b), top[0]->diff.data(), bottom[b]->diff.data(), n, ctx.stream); break;
      }
    }
  }

 private:
  float coeff(std::size_t b) const { return spec_.eltwise.coeff.empty() ? 1.0f : spec_.eltwise.coeff[b]; }
  static std::vector<const float*> inputs(const GpuBlobs& bottom) {
    std::vector<const float*> p;
    for (const GpuBlob* b : bottom) p.push_back(b->data.data());
    return p;
  }
  DeviceArray<int> argmax_;
};

class Split : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    for (GpuBlob* t : top) t->reshape(bottom[0]->shape);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    for (GpuBlob* t : top)
      copy_on_device(t->data.data(), bottom[0]->data.data(), bottom[0]->count, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (!propagate[0]) return;
    for (std::size_t t = 0; t < top.size(); ++t)
      k::axpby(top[t]->diff.data(), 1.0f, bottom[0]->diff.data(), t ? 1.0f : 0.0f, bottom[0]->count, ctx.stream);
  }
};

// Concat (see nn/layers/concat.hpp): each input is `outer` rows of its length along the axis
// times `inner` values, which go to the same rows of the output, after the inputs before it.
// Copies of strided rows, which cudaMemcpy2D does without a kernel of our own.
class Concat : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override {
    std::vector<std::vector<int>> shapes;
    for (const GpuBlob* b : bottom) shapes.push_back(b->shape);
    geometry_ = concat_geometry(spec_.concat.axis, shapes, where());
    top[0]->reshape(geometry_.top_shape);
  }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    for_each_input(bottom, [&](std::size_t b, std::size_t row, std::size_t start) {
      copy_rows(top[0]->data.data() + start, row_of(*top[0]), bottom[b]->data.data(), row, row, ctx);
    });
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    for_each_input(bottom, [&](std::size_t b, std::size_t row, std::size_t start) {
      if (propagate[b]) copy_rows(bottom[b]->diff.data(), row, top[0]->diff.data() + start, row_of(*top[0]), row, ctx);
    });
  }

 private:
  // Values per row (one index of the axes before the concatenation axis) of a blob.
  std::size_t row_of(const GpuBlob& blob) const { return std::size_t(blob.dim(geometry_.axis)) * geometry_.inner; }
  // Calls visit(input, its row length, where its part of an output row starts) for every input.
  template <class Visit>
  void for_each_input(const GpuBlobs& bottom, Visit&& visit) const {
    std::size_t start = 0;
    for (std::size_t b = 0; b < bottom.size(); ++b) {
      const std::size_t row = row_of(*bottom[b]);
      if (row * geometry_.outer != 0) visit(b, row, start);
      start += row;
    }
  }
  // `outer` rows of `length` values, from rows `from_pitch` apart to rows `to_pitch` apart.
  void copy_rows(float* to, std::size_t to_pitch, const float* from, std::size_t from_pitch, std::size_t length,
                 const GpuContext& ctx) const {
    check(cudaMemcpy2DAsync(to, to_pitch * sizeof(float), from, from_pitch * sizeof(float), length * sizeof(float),
                            geometry_.outer, cudaMemcpyDeviceToDevice, ctx.stream),
          "concat copy");
  }
  ConcatGeometry geometry_;
};

// Flatten and Reshape (see nn/layers/reshape.hpp): the values copied, the shape from the derived
// class.
class ShapeChange : public GpuLayer {
 public:
  using GpuLayer::GpuLayer;
  void reshape(const GpuBlobs& bottom, const GpuBlobs& top) override { top[0]->reshape(output_shape(bottom[0]->shape)); }
  void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) override {
    copy_on_device(top[0]->data.data(), bottom[0]->data.data(), bottom[0]->count, ctx.stream);
  }
  void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom, const GpuContext& ctx) override {
    if (propagate[0]) copy_on_device(bottom[0]->diff.data(), top[0]->diff.data(), top[0]->count, ctx.stream);
  }

 protected:
  virtual std::vector<int> output_shape(const std::vector<int>& input) const = 0;
};

class Flatten : public ShapeChange {
 public:
  using ShapeChange::ShapeChange;

 protected:
  std::vector<int> output_shape(const std::vector<int>& input) const override {
    return flattened_shape(spec_.flatten, input, where());
  }
};

class Reshape : public ShapeChange {
 public:
  using ShapeChange::ShapeChange;

 protected:
  std::vector<int> output_shape(const std::vector<int>& input) const override {
    return reshaped_shape(spec_.reshape, input, where());
  }
};

// The GPU class of each entry of nn::kLayerTypes, named by its CPU class; an entry without one
// keeps type = void and fails at run time, as a net with such a layer cannot run on the GPU.
template <template <class> class CpuLayer>
struct GpuLayerFor {
  using type = void;
};
template <> struct GpuLayerFor<ConvolutionLayer> { using type = Convolution; };
template <> struct GpuLayerFor<PoolingLayer> { using type = Pooling; };
template <> struct GpuLayerFor<ReluLayer> { using type = Relu; };
template <> struct GpuLayerFor<SigmoidLayer> { using type = Sigmoid; };
template <> struct GpuLayerFor<LrnLayer> { using type = Lrn; };
template <> struct GpuLayerFor<InnerProductLayer> { using type = InnerProduct; };
template <> struct GpuLayerFor<LatentLayer> { using type = Latent; };
template <> struct GpuLayerFor<DropoutLayer> { using type = Dropout; };
template <> struct GpuLayerFor<SoftmaxLayer> { using type = Softmax; };
template <> struct GpuLayerFor<SoftmaxWithLossLayer> { using type = SoftmaxWithLoss; };
template <> struct GpuLayerFor<AccuracyLayer> { using type = Accuracy; };
template <> struct GpuLayerFor<BatchNormLayer> { using type = BatchNorm; };
template <> struct GpuLayerFor<ScaleLayer> { using type = Scale; };
template <> struct GpuLayerFor<EltwiseLayer> { using type = Eltwise; };
template <> struct GpuLayerFor<SplitLayer> { using type = Split; };
template <> struct GpuLayerFor<ConcatLayer> { using type = Concat; };
template <> struct GpuLayerFor<FlattenLayer> { using type = Flatten; };
template <> struct GpuLayerFor<ReshapeLayer> { using type = Reshape; };

template <template <class> class CpuLayer>
std::unique_ptr<GpuLayer> make_gpu_layer_for(nn::LayerType<CpuLayer>, const nn::LayerSpec& spec) {
  using Gpu = typename GpuLayerFor<CpuLayer>::type;
  if constexpr (std::is_void_v<Gpu>) return nullptr;
  else return std::make_unique<Gpu>(spec);
}

}  // namespace

std::unique_ptr<GpuLayer> make_gpu_layer(const nn::LayerSpec& spec, const std::vector<std::vector<int>>& param_shapes) {
  std::unique_ptr<GpuLayer> l;
  nn::visit_layer_type(spec.type, [&](auto type) { l = make_gpu_layer_for(type, spec); });
  if (!l) throw Error("layer '" + spec.name + "'", "no GPU implementation of layer type '" + spec.type + "'");
  for (const auto& shape : param_shapes) {
    l->params().push_back(std::make_unique<GpuBlob>());
    l->params().back()->reshape(shape);
  }
  return l;
}

}  // namespace deephash::cuda::detail
