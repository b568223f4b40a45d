#pragma once
// Internal: the GPU kernels of the network's layers, behind plain C++ launchers (so that the
// host code that drives them compiles with the ordinary C++ compiler). All pointers are device
// pointers; every launcher runs on the given stream and checks the launch.

#include <cstddef>
#include <cstdint>

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace deephash::cuda::kernels {

struct ConvShape {
  int channels, height, width;  // of one group's input
  int kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w, dilation;
  int out_h, out_w;
};

// images: `count` images of channels_total x height x width, group `group` read (channels of
// this group only). col: count blocks of (channels * kernel_h * kernel_w) x (out_h * out_w).
void im2col(const float* images, int count, int channels_total, int group, const ConvShape& s, float* col, cudaStream_t);
// Adds the columns of one image back into its (zeroed) input gradient, group `group`.
void col2im(const float* col, const ConvShape& s, int channels_total, int group, float* image, cudaStream_t);

void add_channel_bias(float* y, const float* bias, int n, int channels, int plane, cudaStream_t);
// out[c] += sum over n, plane of y[n][c][plane]
void add_channel_sums(const float* y, int n, int channels, int plane, float* out, cudaStream_t);
void add_row_bias(float* y, const float* bias, int rows, int cols, cudaStream_t);
// out[j] += sum over rows of y[row][j]
void add_column_sums(const float* y, int rows, int cols, float* out, cudaStream_t);

void relu_forward(const float* x, float* y, std::uint8_t* positive, std::size_t n, float slope, cudaStream_t);
void relu_backward(const float* dy, const std::uint8_t* positive, float* dx, std::size_t n, float slope, cudaStream_t);
void sigmoid_forward(const float* x, float* y, std::size_t n, cudaStream_t);
// dx = dy * y * (1 - y)
void sigmoid_backward(const float* y, const float* dy, float* dx, std::size_t n, cudaStream_t);
// Inverted dropout; `mask` gets 0 or 1 / (1 - ratio), drawn from (seed, element index).
void dropout_forward(const float* x, float* y, float* mask, std::size_t n, float ratio, std::uint64_t seed, cudaStream_t);
void multiply(const float* a, const float* b, float* out, std::size_t n, cudaStream_t);

struct PoolShape {
  int planes, height, width, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};
void max_pool_forward(const float* x, float* y, int* argmax, const PoolShape&, cudaStream_t);
void max_pool_backward(const float* dy, const int* argmax, float* dx, const PoolShape&, cudaStream_t);
void average_pool_forward(const float* x, float* y, const PoolShape&, cudaStream_t);
void average_pool_backward(const float* dy, float* dx, const PoolShape&, cudaStream_t);

void lrn_forward(const float* x, float* scale, float* y, int n, int channels, int plane, int size, float alpha,
                 float beta, float k, cudaStream_t);
void lrn_backward(const float* x, const float* y, const float* scale, const float* dy, float* dx, int n, int channels,
                  int plane, int size, float alpha, float beta, cudaStream_t);

// Latent layer: a = sigmoid(z) in place; the SSDH losses (weights may be 0) into *loss.
void latent_losses(const float* a, int rows, int cols, float binarization, float balance, float* loss, cudaStream_t);
// dz = (da + loss_weight * d(SSDH)/da) * a (1 - a); loss_weight is read from device memory.
void latent_backward(const float* a, const float* da, const float* loss_weight, int rows, int cols, float binarization,
                     float balance, float* dz, cudaStream_t);

void softmax_rows(const float* x, float* p, int rows, int cols, cudaStream_t);
void softmax_backward(const float* p, const float* dp, float* dx, int rows, int cols, cudaStream_t);
// Mean of -sum_j t_j log p_j for the target t = s / cols + (1 - s) onehot(label) (s: label
// smoothing); `bad_label` gets the first invalid label's row + 1 (0: none).
void softmax_loss(const float* p, const float* labels, int rows, int cols, float smoothing, float* loss, int* bad_label,
                  cudaStream_t);
// dx = (p - t) * (*loss_weight) / rows
void softmax_loss_backward(const float* p, const float* labels, const float* loss_weight, float* dx, int rows, int cols,
                           float smoothing, cudaStream_t);
void accuracy(const float* scores, const float* labels, int rows, int cols, float* out, cudaStream_t);

// Batch norm. Statistics per channel over n and the plane.
void channel_mean_variance(const float* x, int n, int channels, int plane, float* mean, float* variance, cudaStream_t);
// y = (x - mean) * inv_std, with inv_std = 1 / sqrt(variance + eps) (or from the running sums
// scaled by 1 / normaliser when `running` is set).
void batch_norm_forward(const float* x, const float* mean, const float* variance, const float* normaliser, float eps,
                        float* y, int n, int channels, int plane, cudaStream_t);
// running sums (Caffe's): sums = sums * decay + value, normaliser = normaliser * decay + 1.
void batch_norm_update_running(float* mean_sum, float* variance_sum, float* normaliser, const float* mean,
                               const float* variance, float decay, float unbias, int channels, cudaStream_t);
void batch_norm_backward(const float* y, const float* dy, const float* variance, const float* normaliser, float eps,
                         bool global, float* dx, int n, int channels, int plane, cudaStream_t);

void scale_forward(const float* x, const float* gamma, const float* beta, float* y, int n, int channels, int plane,
                   cudaStream_t);
// dgamma += sum dy * x, dbeta += sum dy (dbeta may be null); dx = dy * gamma (dx may be null).
void scale_backward(const float* x, const float* dy, const float* gamma, float* dgamma, float* dbeta, float* dx, int n,
                    int channels, int plane, cudaStream_t);

// y = sum_b coeff[b] x_b (accumulating into y when `accumulate`).
void axpby(const float* x, float a, float* y, float b, std::size_t n, cudaStream_t);
void eltwise_product(const float* const* inputs, int count, float* y, std::size_t n, cudaStream_t);
void eltwise_max(const float* const* inputs, int count, float* y, int* argmax, std::size_t n, cudaStream_t);
// dx_b = dy * product of the other inputs
void eltwise_product_backward(const float* const* inputs, int count, int which, const float* dy, float* dx,
                              std::size_t n, cudaStream_t);
void eltwise_max_backward(const int* argmax, int which, const float* dy, float* dx, std::size_t n, cudaStream_t);

// v = momentum v + rate (g + decay w); w -= v; g = 0
void sgd_update(float* w, float* g, float* v, std::size_t n, float rate, float momentum, float decay, cudaStream_t);
void fill(float* x, std::size_t n, float value, cudaStream_t);

}  // namespace deephash::cuda::kernels
