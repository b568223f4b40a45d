// The GPU kernels of the network's layers. Each mirrors its CPU layer in include/deephash/nn
// (same definitions, same Caffe conventions); the CUDA tests compare the two.

#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "cuda_check.hpp"
#include "kernels.hpp"

namespace deephash::cuda::kernels {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::size_t n) {
  const std::size_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 32 ? (b ? b : 1) : 65535 * 32);
}

// A grid-stride loop, so that any n fits any grid.
#define DEEPHASH_FOR_EACH(i, n) \
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < (n); i += std::size_t(blockDim.x) * gridDim.x)

// A counter-based random number (splitmix64 of seed and index): the same mask for the same
// (seed, element), whatever the launch configuration.
__device__ inline float uniform01(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return float(z >> 40) * (1.0f / 16777216.0f);
}

// Sum of one value per thread over the block (blockDim.x == kThreads).
__device__ float block_sum(float v) {
  __shared__ float partial[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0f;
  if (threadIdx.x < 32)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  __syncthreads();
  return v;  // valid in thread 0
}

__global__ void im2col_kernel(const float* images, int count, int channels_total, int group, ConvShape s, float* col) {
  const std::size_t spatial = std::size_t(s.out_h) * s.out_w;
  const std::size_t rows = std::size_t(s.channels) * s.kernel_h * s.kernel_w;
  const std::size_t per_image = rows * spatial;
  DEEPHASH_FOR_EACH(i, per_image * count) {
    const std::size_t image = i / per_image, within = i % per_image;
    const std::size_t row = within / spatial, pos = within % spatial;
    const int kw = int(row % s.kernel_w), kh = int(row / s.kernel_w % s.kernel_h), c = int(row / (s.kernel_w * s.kernel_h));
    const int oy = int(pos / s.out_w), ox = int(pos % s.out_w);
    const int y = oy * s.stride_h - s.pad_h + kh * s.dilation, x = ox * s.stride_w - s.pad_w + kw * s.dilation;
    float v = 0;
    if (y >= 0 && y < s.height && x >= 0 && x < s.width)
      v = images[((image * channels_total + std::size_t(group) * s.channels + c) * s.height + y) * s.width + x];
    col[i] = v;
  }
}

// One thread per input pixel gathers the columns that read it (no atomics).
__global__ void col2im_kernel(const float* col, ConvShape s, int channels_total, int group, float* image) {
  const std::size_t n = std::size_t(s.channels) * s.height * s.width;
  const std::size_t spatial = std::size_t(s.out_h) * s.out_w;
  DEEPHASH_FOR_EACH(i, n) {
    const int x = int(i % s.width), y = int(i / s.width % s.height), c = int(i / (std::size_t(s.width) * s.height));
    float sum = 0;
    for (int kh = 0; kh < s.kernel_h; ++kh) {
      const int ty = y + s.pad_h - kh * s.dilation;
      if (ty < 0 || ty % s.stride_h) continue;
      const int oy = ty / s.stride_h;
      if (oy >= s.out_h) continue;
      for (int kw = 0; kw < s.kernel_w; ++kw) {
        const int tx = x + s.pad_w - kw * s.dilation;
        if (tx < 0 || tx % s.stride_w) continue;
        const int ox = tx / s.stride_w;
        if (ox >= s.out_w) continue;
        sum += col[((std::size_t(c) * s.kernel_h + kh) * s.kernel_w + kw) * spatial + std::size_t(oy) * s.out_w + ox];
      }
    }
    image[(std::size_t(group) * s.channels + c) * s.height * s.width + std::size_t(y) * s.width + x] += sum;
  }
}

__global__ void add_channel_bias_kernel(float* y, const float* bias, int n, int channels, int plane) {
  DEEPHASH_FOR_EACH(i, std::size_t(n) * channels * plane) y[i] += bias[i / plane % channels];
}

// One block per channel.
__global__ void channel_sums_kernel(const float* y, int n, int channels, int plane, float* out) {
  const int c = blockIdx.x;
  float sum = 0;
  for (std::size_t j = threadIdx.x; j < std::size_t(n) * plane; j += blockDim.x)
    sum += y[(j / plane * channels + c) * std::size_t(plane) + j % plane];
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[c] += sum;
}

__global__ void add_row_bias_kernel(float* y, const float* bias, int rows, int cols) {
  DEEPHASH_FOR_EACH(i, std::size_t(rows) * cols) y[i] += bias[i % cols];
}

__global__ void column_sums_kernel(const float* y, int rows, int cols, float* out) {
  DEEPHASH_FOR_EACH(j, std::size_t(cols)) {
    float sum = 0;
    for (int r = 0; r < rows; ++r) sum += y[std::size_t(r) * cols + j];
    out[j] += sum;
  }
}

__global__ void relu_forward_kernel(const float* x, float* y, std::uint8_t* positive, std::size_t n, float slope) {
  DEEPHASH_FOR_EACH(i, n) {
    const float v = x[i];
    if (positive) positive[i] = v > 0;
    y[i] = v > 0 ? v : slope * v;
  }
}
__global__ void relu_backward_kernel(const float* dy, const std::uint8_t* positive, float* dx, std::size_t n, float slope) {
  DEEPHASH_FOR_EACH(i, n) dx[i] = positive[i] ? dy[i] : slope * dy[i];
}
__global__ void sigmoid_forward_kernel(const float* x, float* y, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) y[i] = 1.0f / (1.0f + expf(-x[i]));
}
__global__ void sigmoid_backward_kernel(const float* y, const float* dy, float* dx, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
__global__ void dropout_forward_kernel(const float* x, float* y, float* mask, std::size_t n, float ratio, std::uint64_t seed) {
  const float scale = 1.0f / (1.0f - ratio);
  DEEPHASH_FOR_EACH(i, n) {
    mask[i] = uniform01(seed, i) >= ratio ? scale : 0.0f;
    y[i] = x[i] * mask[i];
  }
}
__global__ void multiply_kernel(const float* a, const float* b, float* out, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) out[i] = a[i] * b[i];
}

// Caffe's windows: clipped to the image; average pooling divides by the window up to the padded border.
__device__ inline void pool_window(const PoolShape& s, int oy, int ox, int& y0, int& y1, int& x0, int& x1, int& area) {
  y0 = oy * s.stride_h - s.pad_h;
  x0 = ox * s.stride_w - s.pad_w;
  y1 = min(y0 + s.kernel_h, s.height + s.pad_h);
  x1 = min(x0 + s.kernel_w, s.width + s.pad_w);
  area = (y1 - y0) * (x1 - x0);
  y0 = max(y0, 0);
  x0 = max(x0, 0);
  y1 = min(y1, s.height);
  x1 = min(x1, s.width);
}

// The outputs [oy0, oy1) x [ox0, ox1) whose windows can contain input pixel (y, x).
__device__ inline void windows_containing(const PoolShape& s, int y, int x, int& oy0, int& oy1, int& ox0, int& ox1) {
  oy0 = (y + s.pad_h < s.kernel_h) ? 0 : (y + s.pad_h - s.kernel_h) / s.stride_h + 1;
  oy1 = min((y + s.pad_h) / s.stride_h + 1, s.out_h);
  ox0 = (x + s.pad_w < s.kernel_w) ? 0 : (x + s.pad_w - s.kernel_w) / s.stride_w + 1;
  ox1 = min((x + s.pad_w) / s.stride_w + 1, s.out_w);
}

__global__ void max_pool_forward_kernel(const float* x, float* y, int* argmax, PoolShape s) {
  DEEPHASH_FOR_EACH(i, std::size_t(s.planes) * s.out_h * s.out_w) {
    const int ox = int(i % s.out_w), oy = int(i / s.out_w % s.out_h);
    const std::size_t p = i / (std::size_t(s.out_w) * s.out_h);
    int y0, y1, x0, x1, area;
    pool_window(s, oy, ox, y0, y1, x0, x1, area);
    const float* in = x + p * s.height * s.width;
    float best = -FLT_MAX;
    int where = -1;
    for (int yy = y0; yy < y1; ++yy)
      for (int xx = x0; xx < x1; ++xx)
        if (in[yy * s.width + xx] > best) {
          best = in[yy * s.width + xx];
          where = yy * s.width + xx;
        }
    y[i] = best;
    if (argmax) argmax[i] = where;
  }
}

// One thread per input pixel: the outputs whose window chose it.
__global__ void max_pool_backward_kernel(const float* dy, const int* argmax, float* dx, PoolShape s) {
  DEEPHASH_FOR_EACH(i, std::size_t(s.planes) * s.height * s.width) {
    const int x = int(i % s.width), y = int(i / s.width % s.height);
    const std::size_t p = i / (std::size_t(s.width) * s.height);
    int oy0, oy1, ox0, ox1;
    windows_containing(s, y, x, oy0, oy1, ox0, ox1);
    float sum = 0;
    const std::size_t base = p * s.out_h * s.out_w;
    for (int oy = oy0; oy < oy1; ++oy)
      for (int ox = ox0; ox < ox1; ++ox)
        if (argmax[base + std::size_t(oy) * s.out_w + ox] == y * s.width + x) sum += dy[base + std::size_t(oy) * s.out_w + ox];
    dx[i] = sum;
  }
}

__global__ void average_pool_forward_kernel(const float* x, float* y, PoolShape s) {
  DEEPHASH_FOR_EACH(i, std::size_t(s.planes) * s.out_h * s.out_w) {
    const int ox = int(i % s.out_w), oy = int(i / s.out_w % s.out_h);
    const std::size_t p = i / (std::size_t(s.out_w) * s.out_h);
    int y0, y1, x0, x1, area;
    pool_window(s, oy, ox, y0, y1, x0, x1, area);
    const float* in = x + p * s.height * s.width;
    float sum = 0;
    for (int yy = y0; yy < y1; ++yy)
      for (int xx = x0; xx < x1; ++xx) sum += in[yy * s.width + xx];
    y[i] = sum / float(area);
  }
}

__global__ void average_pool_backward_kernel(const float* dy, float* dx, PoolShape s) {
  DEEPHASH_FOR_EACH(i, std::size_t(s.planes) * s.height * s.width) {
    const int x = int(i % s.width), y = int(i / s.width % s.height);
    const std::size_t p = i / (std::size_t(s.width) * s.height);
    int oy0, oy1, ox0, ox1;
    windows_containing(s, y, x, oy0, oy1, ox0, ox1);
    float sum = 0;
    for (int oy = oy0; oy < oy1; ++oy)
      for (int ox = ox0; ox < ox1; ++ox) {
        int y0, y1, x0, x1, area;
        pool_window(s, oy, ox, y0, y1, x0, x1, area);
        if (y >= y0 && y < y1 && x >= x0 && x < x1) sum += dy[(p * s.out_h + oy) * s.out_w + ox] / float(area);
      }
    dx[i] = sum;
  }
}

// One thread per (image, pixel), sliding the channel window.
__global__ void lrn_forward_kernel(const float* x, float* scale, float* y, int n, int channels, int plane, int size,
                                   float alpha, float beta, float k) {
  const int half = size / 2;
  DEEPHASH_FOR_EACH(i, std::size_t(n) * plane) {
    const std::size_t image = i / plane, pos = i % plane;
    const float* xi = x + image * channels * plane + pos;
    float sum = 0;
    for (int c = 0; c < min(half, channels); ++c) sum += xi[c * plane] * xi[c * plane];
    for (int c = 0; c < channels; ++c) {
      if (c + half < channels) sum += xi[(c + half) * plane] * xi[(c + half) * plane];
      if (c - half - 1 >= 0) sum -= xi[(c - half - 1) * plane] * xi[(c - half - 1) * plane];
      const std::size_t j = image * channels * plane + std::size_t(c) * plane + pos;
      scale[j] = k + alpha / size * sum;
      y[j] = xi[c * plane] * powf(scale[j], -beta);
    }
  }
}

__global__ void lrn_backward_kernel(const float* x, const float* y, const float* scale, const float* dy, float* dx, int n,
                                    int channels, int plane, int size, float alpha, float beta) {
  const int half = size / 2;
  const float factor = 2.0f * alpha * beta / size;
  DEEPHASH_FOR_EACH(i, std::size_t(n) * plane) {
    const std::size_t base = i / plane * channels * plane + i % plane;
    auto ratio = [&](int c) { return dy[base + std::size_t(c) * plane] * y[base + std::size_t(c) * plane] / scale[base + std::size_t(c) * plane]; };
    float sum = 0;
    for (int c = 0; c < min(half, channels); ++c) sum += ratio(c);
    for (int c = 0; c < channels; ++c) {
      if (c + half < channels) sum += ratio(c + half);
      if (c - half - 1 >= 0) sum -= ratio(c - half - 1);
      const std::size_t j = base + std::size_t(c) * plane;
      dx[j] = dy[j] * powf(scale[j], -beta) - factor * x[j] * sum;
    }
  }
}

// One block: -mean((a - .5)^2) and mean over rows of (mean over columns of a - .5)^2.
__global__ void latent_losses_kernel(const float* a, int rows, int cols, float binarization, float balance, float* loss) {
  float bin = 0, bal = 0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x) {
    float row = 0;
    for (int c = 0; c < cols; ++c) {
      const float v = a[std::size_t(r) * cols + c] - 0.5f;
      bin += v * v;
      row += v;
    }
    row /= cols;
    bal += row * row;
  }
  bin = block_sum(bin);
  bal = block_sum(bal);
  if (threadIdx.x == 0) *loss = -binarization * bin / (float(rows) * cols) + balance * bal / rows;
}

__global__ void latent_backward_kernel(const float* a, const float* da, const float* loss_weight, int rows, int cols,
                                       float binarization, float balance, float* dz) {
  DEEPHASH_FOR_EACH(i, std::size_t(rows) * cols) {
    const std::size_t r = i / cols;
    float g = da[i];
    const float w = loss_weight ? *loss_weight : 0.0f;
    if (w != 0.0f) {
      float row = 0;
      for (int c = 0; c < cols; ++c) row += a[r * cols + c] - 0.5f;
      row /= cols;
      const float n = float(rows) * cols;
      g += w * (binarization * -2.0f / n * (a[i] - 0.5f) + balance * 2.0f / n * row);
    }
    dz[i] = g * a[i] * (1.0f - a[i]);
  }
}

__global__ void softmax_rows_kernel(const float* x, float* p, int rows, int cols) {
  DEEPHASH_FOR_EACH(r, std::size_t(rows)) {
    const float* xr = x + r * cols;
    float top = -FLT_MAX, sum = 0;
    for (int c = 0; c < cols; ++c) top = fmaxf(top, xr[c]);
    for (int c = 0; c < cols; ++c) sum += (p[r * cols + c] = expf(xr[c] - top));
    for (int c = 0; c < cols; ++c) p[r * cols + c] /= sum;
  }
}

__global__ void softmax_backward_kernel(const float* p, const float* dp, float* dx, int rows, int cols) {
  DEEPHASH_FOR_EACH(r, std::size_t(rows)) {
    float dot = 0;
    for (int c = 0; c < cols; ++c) dot += dp[r * cols + c] * p[r * cols + c];
    for (int c = 0; c < cols; ++c) dx[r * cols + c] = p[r * cols + c] * (dp[r * cols + c] - dot);
  }
}

__global__ void softmax_loss_kernel(const float* p, const float* labels, int rows, int cols, float smoothing, float* loss,
                                    int* bad) {
  float sum = 0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x) {
    const float l = labels[r];
    const int label = int(l);
    if (float(label) != l || label < 0 || label >= cols) {
      atomicCAS(bad, 0, r + 1);
      continue;
    }
    const float* row = p + std::size_t(r) * cols;
    sum -= (1 - smoothing) * logf(fmaxf(row[label], 1e-37f));
    if (smoothing > 0)
      for (int c = 0; c < cols; ++c) sum -= smoothing / float(cols) * logf(fmaxf(row[c], 1e-37f));
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) *loss = sum / fmaxf(float(rows), 1.0f);
}

__global__ void softmax_loss_backward_kernel(const float* p, const float* labels, const float* loss_weight, float* dx,
                                             int rows, int cols, float smoothing) {
  const float scale = *loss_weight / fmaxf(float(rows), 1.0f);
  DEEPHASH_FOR_EACH(i, std::size_t(rows) * cols) {
    const int r = int(i / cols), c = int(i % cols);
    dx[i] = (p[i] - smoothing / float(cols) - (int(labels[r]) == c ? 1.0f - smoothing : 0.0f)) * scale;
  }
}

__global__ void accuracy_kernel(const float* scores, const float* labels, int rows, int cols, float* out) {
  float correct = 0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x) {
    int best = 0;
    for (int c = 1; c < cols; ++c)
      if (scores[std::size_t(r) * cols + c] > scores[std::size_t(r) * cols + best]) best = c;
    correct += best == int(labels[r]);
  }
  correct = block_sum(correct);
  if (threadIdx.x == 0) *out = rows ? correct / rows : 0.0f;
}

// One block per channel: mean and (biased) variance over n and the plane.
__global__ void channel_mean_variance_kernel(const float* x, int n, int channels, int plane, float* mean, float* variance) {
  const int c = blockIdx.x;
  const std::size_t count = std::size_t(n) * plane;
  float sum = 0, sq = 0;
  for (std::size_t j = threadIdx.x; j < count; j += blockDim.x) {
    const float v = x[(j / plane * channels + c) * std::size_t(plane) + j % plane];
    sum += v;
    sq += v * v;
  }
  sum = block_sum(sum);
  sq = block_sum(sq);
  if (threadIdx.x == 0) {
    const float m = sum / count;
    mean[c] = m;
    variance[c] = fmaxf(0.0f, sq / count - m * m);
  }
}

__device__ inline float running_factor(const float* normaliser) {
  return normaliser ? (*normaliser == 0.0f ? 0.0f : 1.0f / *normaliser) : 1.0f;
}

__global__ void batch_norm_forward_kernel(const float* x, const float* mean, const float* variance, const float* normaliser,
                                          float eps, float* y, int n, int channels, int plane) {
  const float f = running_factor(normaliser);
  DEEPHASH_FOR_EACH(i, std::size_t(n) * channels * plane) {
    const int c = int(i / plane % channels);
    y[i] = (x[i] - mean[c] * f) * rsqrtf(variance[c] * f + eps);
  }
}

__global__ void batch_norm_update_running_kernel(float* mean_sum, float* variance_sum, float* normaliser, const float* mean,
                                                 const float* variance, float decay, float unbias, int channels) {
  DEEPHASH_FOR_EACH(c, std::size_t(channels)) {
    mean_sum[c] = mean_sum[c] * decay + mean[c];
    variance_sum[c] = variance_sum[c] * decay + unbias * variance[c];
    if (c == 0) *normaliser = *normaliser * decay + 1.0f;
  }
}

// One block per channel: dx = inv_std (dy - mean(dy) - y mean(dy y)), or inv_std dy with global statistics.
__global__ void batch_norm_backward_kernel(const float* y, const float* dy, const float* variance, const float* normaliser,
                                           float eps, bool global, float* dx, int n, int channels, int plane) {
  const int c = blockIdx.x;
  const std::size_t count = std::size_t(n) * plane;
  const float inv_std = rsqrtf(variance[c] * running_factor(normaliser) + eps);
  float mean_dy = 0, mean_dy_y = 0;
  if (!global) {
    for (std::size_t j = threadIdx.x; j < count; j += blockDim.x) {
      const std::size_t k = (j / plane * channels + c) * std::size_t(plane) + j % plane;
      mean_dy += dy[k];
      mean_dy_y += dy[k] * y[k];
    }
    __shared__ float shared[2];
    mean_dy = block_sum(mean_dy);
    mean_dy_y = block_sum(mean_dy_y);
    if (threadIdx.x == 0) {
      shared[0] = mean_dy / count;
      shared[1] = mean_dy_y / count;
    }
    __syncthreads();
    mean_dy = shared[0];
    mean_dy_y = shared[1];
  }
  for (std::size_t j = threadIdx.x; j < count; j += blockDim.x) {
    const std::size_t k = (j / plane * channels + c) * std::size_t(plane) + j % plane;
    dx[k] = global ? inv_std * dy[k] : inv_std * (dy[k] - mean_dy - y[k] * mean_dy_y);
  }
}

__global__ void scale_forward_kernel(const float* x, const float* gamma, const float* beta, float* y, int n, int channels,
                                     int plane) {
  DEEPHASH_FOR_EACH(i, std::size_t(n) * channels * plane) {
    const int c = int(i / plane % channels);
    y[i] = x[i] * gamma[c] + (beta ? beta[c] : 0.0f);
  }
}

__global__ void scale_backward_kernel(const float* x, const float* dy, const float* gamma, float* dgamma, float* dbeta,
                                      float* dx, int n, int channels, int plane) {
  const int c = blockIdx.x;
  const std::size_t count = std::size_t(n) * plane;
  float g = 0, b = 0;
  for (std::size_t j = threadIdx.x; j < count; j += blockDim.x) {
    const std::size_t k = (j / plane * channels + c) * std::size_t(plane) + j % plane;
    g += dy[k] * x[k];
    b += dy[k];
    if (dx) dx[k] = dy[k] * gamma[c];
  }
  g = block_sum(g);
  b = block_sum(b);
  if (threadIdx.x == 0) {
    dgamma[c] += g;
    if (dbeta) dbeta[c] += b;
  }
}

__global__ void axpby_kernel(const float* x, float a, float* y, float b, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) y[i] = a * x[i] + (b == 0.0f ? 0.0f : b * y[i]);
}

constexpr int kMaxEltwiseInputs = 16;
struct Inputs {
  const float* p[kMaxEltwiseInputs];
};

__global__ void eltwise_product_kernel(Inputs in, int count, float* y, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) {
    float v = in.p[0][i];
    for (int b = 1; b < count; ++b) v *= in.p[b][i];
    y[i] = v;
  }
}
__global__ void eltwise_max_kernel(Inputs in, int count, float* y, int* argmax, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) {
    float v = in.p[0][i];
    int best = 0;
    for (int b = 1; b < count; ++b)
      if (in.p[b][i] > v) {
        v = in.p[b][i];
        best = b;
      }
    y[i] = v;
    argmax[i] = best;
  }
}
__global__ void eltwise_product_backward_kernel(Inputs in, int count, int which, const float* dy, float* dx, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) {
    float others = 1;
    for (int b = 0; b < count; ++b)
      if (b != which) others *= in.p[b][i];
    dx[i] = dy[i] * others;
  }
}
__global__ void eltwise_max_backward_kernel(const int* argmax, int which, const float* dy, float* dx, std::size_t n) {
  DEEPHASH_FOR_EACH(i, n) dx[i] = argmax[i] == which ? dy[i] : 0.0f;
}

__global__ void sgd_update_kernel(float* w, float* g, float* v, std::size_t n, float rate, float momentum, float decay) {
  DEEPHASH_FOR_EACH(i, n) {
    v[i] = momentum * v[i] + rate * (g[i] + decay * w[i]);
    w[i] -= v[i];
    g[i] = 0;
  }
}
__global__ void fill_kernel(float* x, std::size_t n, float value) {
  DEEPHASH_FOR_EACH(i, n) x[i] = value;
}

Inputs pack(const float* const* inputs, int count) {
  if (count > kMaxEltwiseInputs) throw Error("cuda: eltwise", "at most 16 inputs on the GPU");
  Inputs in{};
  for (int b = 0; b < count; ++b) in.p[b] = inputs[b];
  return in;
}

}  // namespace

#define LAUNCH(kernel, n, stream, ...)                                   \
  do {                                                                   \
    kernel<<<blocks_for(n), kThreads, 0, stream>>>(__VA_ARGS__);         \
    detail::check_launch(#kernel);                                       \
  } while (0)

void im2col(const float* images, int count, int channels_total, int group, const ConvShape& s, float* col, cudaStream_t st) {
  const std::size_t n = std::size_t(count) * s.channels * s.kernel_h * s.kernel_w * s.out_h * s.out_w;
  LAUNCH(im2col_kernel, n, st, images, count, channels_total, group, s, col);
}
void col2im(const float* col, const ConvShape& s, int channels_total, int group, float* image, cudaStream_t st) {
  LAUNCH(col2im_kernel, std::size_t(s.channels) * s.height * s.width, st, col, s, channels_total, group, image);
}
void add_channel_bias(float* y, const float* bias, int n, int channels, int plane, cudaStream_t st) {
  LAUNCH(add_channel_bias_kernel, std::size_t(n) * channels * plane, st, y, bias, n, channels, plane);
}
void add_channel_sums(const float* y, int n, int channels, int plane, float* out, cudaStream_t st) {
  channel_sums_kernel<<<channels, kThreads, 0, st>>>(y, n, channels, plane, out);
  detail::check_launch("channel_sums_kernel");
}
void add_row_bias(float* y, const float* bias, int rows, int cols, cudaStream_t st) {
  LAUNCH(add_row_bias_kernel, std::size_t(rows) * cols, st, y, bias, rows, cols);
}
void add_column_sums(const float* y, int rows, int cols, float* out, cudaStream_t st) {
  LAUNCH(column_sums_kernel, std::size_t(cols), st, y, rows, cols, out);
}
void relu_forward(const float* x, float* y, std::uint8_t* positive, std::size_t n, float slope, cudaStream_t st) {
  LAUNCH(relu_forward_kernel, n, st, x, y, positive, n, slope);
}
void relu_backward(const float* dy, const std::uint8_t* positive, float* dx, std::size_t n, float slope, cudaStream_t st) {
  LAUNCH(relu_backward_kernel, n, st, dy, positive, dx, n, slope);
}
void sigmoid_forward(const float* x, float* y, std::size_t n, cudaStream_t st) { LAUNCH(sigmoid_forward_kernel, n, st, x, y, n); }
void sigmoid_backward(const float* y, const float* dy, float* dx, std::size_t n, cudaStream_t st) {
  LAUNCH(sigmoid_backward_kernel, n, st, y, dy, dx, n);
}
void dropout_forward(const float* x, float* y, float* mask, std::size_t n, float ratio, std::uint64_t seed, cudaStream_t st) {
  LAUNCH(dropout_forward_kernel, n, st, x, y, mask, n, ratio, seed);
}
void multiply(const float* a, const float* b, float* out, std::size_t n, cudaStream_t st) {
  LAUNCH(multiply_kernel, n, st, a, b, out, n);
}
void max_pool_forward(const float* x, float* y, int* argmax, const PoolShape& s, cudaStream_t st) {
  LAUNCH(max_pool_forward_kernel, std::size_t(s.planes) * s.out_h * s.out_w, st, x, y, argmax, s);
}
void max_pool_backward(const float* dy, const int* argmax, float* dx, const PoolShape& s, cudaStream_t st) {
  LAUNCH(max_pool_backward_kernel, std::size_t(s.planes) * s.height * s.width, st, dy, argmax, dx, s);
}
void average_pool_forward(const float* x, float* y, const PoolShape& s, cudaStream_t st) {
  LAUNCH(average_pool_forward_kernel, std::size_t(s.planes) * s.out_h * s.out_w, st, x, y, s);
}
void average_pool_backward(const float* dy, float* dx, const PoolShape& s, cudaStream_t st) {
  LAUNCH(average_pool_backward_kernel, std::size_t(s.planes) * s.height * s.width, st, dy, dx, s);
}
void lrn_forward(const float* x, float* scale, float* y, int n, int channels, int plane, int size, float alpha, float beta,
                 float k, cudaStream_t st) {
  LAUNCH(lrn_forward_kernel, std::size_t(n) * plane, st, x, scale, y, n, channels, plane, size, alpha, beta, k);
}
void lrn_backward(const float* x, const float* y, const float* scale, const float* dy, float* dx, int n, int channels,
                  int plane, int size, float alpha, float beta, cudaStream_t st) {
  LAUNCH(lrn_backward_kernel, std::size_t(n) * plane, st, x, y, scale, dy, dx, n, channels, plane, size, alpha, beta);
}
void latent_losses(const float* a, int rows, int cols, float binarization, float balance, float* loss, cudaStream_t st) {
  latent_losses_kernel<<<1, kThreads, 0, st>>>(a, rows, cols, binarization, balance, loss);
  detail::check_launch("latent_losses_kernel");
}
void latent_backward(const float* a, const float* da, const float* loss_weight, int rows, int cols, float binarization,
                     float balance, float* dz, cudaStream_t st) {
  LAUNCH(latent_backward_kernel, std::size_t(rows) * cols, st, a, da, loss_weight, rows, cols, binarization, balance, dz);
}
void softmax_rows(const float* x, float* p, int rows, int cols, cudaStream_t st) {
  LAUNCH(softmax_rows_kernel, std::size_t(rows), st, x, p, rows, cols);
}
void softmax_backward(const float* p, const float* dp, float* dx, int rows, int cols, cudaStream_t st) {
  LAUNCH(softmax_backward_kernel, std::size_t(rows), st, p, dp, dx, rows, cols);
}
void softmax_loss(const float* p, const float* labels, int rows, int cols, float smoothing, float* loss, int* bad,
                  cudaStream_t st) {
  softmax_loss_kernel<<<1, kThreads, 0, st>>>(p, labels, rows, cols, smoothing, loss, bad);
  detail::check_launch("softmax_loss_kernel");
}
void softmax_loss_backward(const float* p, const float* labels, const float* loss_weight, float* dx, int rows, int cols,
                           float smoothing, cudaStream_t st) {
  LAUNCH(softmax_loss_backward_kernel, std::size_t(rows) * cols, st, p, labels, loss_weight, dx, rows, cols, smoothing);
}
void accuracy(const float* scores, const float* labels, int rows, int cols, float* out, cudaStream_t st) {
  accuracy_kernel<<<1, kThreads, 0, st>>>(scores, labels, rows, cols, out);
  detail::check_launch("accuracy_kernel");
}
void channel_mean_variance(const float* x, int n, int channels, int plane, float* mean, float* variance, cudaStream_t st) {
  channel_mean_variance_kernel<<<channels, kThreads, 0, st>>>(x, n, channels, plane, mean, variance);
  detail::check_launch("channel_mean_variance_kernel");
}
void batch_norm_forward(const float* x, const float* mean, const float* variance, const float* normaliser, float eps, float* y,
                        int n, int channels, int plane, cudaStream_t st) {
  LAUNCH(batch_norm_forward_kernel, std::size_t(n) * channels * plane, st, x, mean, variance, normaliser, eps, y, n, channels,
         plane);
}
void batch_norm_update_running(float* mean_sum, float* variance_sum, float* normaliser, const float* mean,
                               const float* variance, float decay, float unbias, int channels, cudaStream_t st) {
  LAUNCH(batch_norm_update_running_kernel, std::size_t(channels), st, mean_sum, variance_sum, normaliser, mean, variance,
         decay, unbias, channels);
}
void batch_norm_backward(const float* y, const float* dy, const float* variance, const float* normaliser, float eps,
                         bool global, float* dx, int n, int channels, int plane, cudaStream_t st) {
  batch_norm_backward_kernel<<<channels, kThreads, 0, st>>>(y, dy, variance, normaliser, eps, global, dx, n, channels, plane);
  detail::check_launch("batch_norm_backward_kernel");
}
void scale_forward(const float* x, const float* gamma, const float* beta, float* y, int n, int channels, int plane,
                   cudaStream_t st) {
  LAUNCH(scale_forward_kernel, std::size_t(n) * channels * plane, st, x, gamma, beta, y, n, channels, plane);
}
void scale_backward(const float* x, const float* dy, const float* gamma, float* dgamma, float* dbeta, float* dx, int n,
                    int channels, int plane, cudaStream_t st) {
  scale_backward_kernel<<<channels, kThreads, 0, st>>>(x, dy, gamma, dgamma, dbeta, dx, n, channels, plane);
  detail::check_launch("scale_backward_kernel");
}
void axpby(const float* x, float a, float* y, float b, std::size_t n, cudaStream_t st) { LAUNCH(axpby_kernel, n, st, x, a, y, b, n); }
void eltwise_product(const float* const* inputs, int count, float* y, std::size_t n, cudaStream_t st) {
  LAUNCH(eltwise_product_kernel, n, st, pack(inputs, count), count, y, n);
}
void eltwise_max(const float* const* inputs, int count, float* y, int* argmax, std::size_t n, cudaStream_t st) {
  LAUNCH(eltwise_max_kernel, n, st, pack(inputs, count), count, y, argmax, n);
}
void eltwise_product_backward(const float* const* inputs, int count, int which, const float* dy, float* dx, std::size_t n,
                              cudaStream_t st) {
  LAUNCH(eltwise_product_backward_kernel, n, st, pack(inputs, count), count, which, dy, dx, n);
}
void eltwise_max_backward(const int* argmax, int which, const float* dy, float* dx, std::size_t n, cudaStream_t st) {
  LAUNCH(eltwise_max_backward_kernel, n, st, argmax, which, dy, dx, n);
}
void sgd_update(float* w, float* g, float* v, std::size_t n, float rate, float momentum, float decay, cudaStream_t st) {
  LAUNCH(sgd_update_kernel, n, st, w, g, v, n, rate, momentum, decay);
}
void fill(float* x, std::size_t n, float value, cudaStream_t st) { LAUNCH(fill_kernel, n, st, x, n, value); }

}  // namespace deephash::cuda::kernels
