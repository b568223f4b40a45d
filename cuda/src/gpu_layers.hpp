#pragma once
// Internal: the GPU layers. Each keeps the contract of its CPU twin in include/deephash/nn
// (shapes, forward, backward that writes bottom diffs and adds parameter diffs, what it keeps for
// backward when running in place) with device memory, kernels.hpp and cuBLAS.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "deephash/cuda/device.hpp"
#include "deephash/nn/blob.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash::cuda::detail {

struct GpuBlob {
  std::vector<int> shape;
  std::size_t count = 0;
  DeviceArray<float> data, diff;

  void reshape(const std::vector<int>& s) {
    std::size_t n = 1;
    for (int d : s) n *= std::size_t(d);
    shape = s;
    count = n;
    data.resize(n);
    diff.resize(n);
  }
  int dim(int axis) const { return shape[std::size_t(axis)]; }
  std::size_t count_from(int axis) const {
    std::size_t n = 1;
    for (std::size_t i = std::size_t(axis); i < shape.size(); ++i) n *= std::size_t(shape[i]);
    return n;
  }
};

using GpuBlobs = std::vector<GpuBlob*>;

struct GpuContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  nn::Phase phase = nn::Phase::Test;
  std::uint64_t seed = 0;
  MathMode math = MathMode::FP32;
};

// Row-major C = alpha op(A) op(B) + beta C, `batch` times with the given strides (0: shared).
void gemm(const GpuContext& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          long long stride_a, const float* b, int ldb, long long stride_b, float beta, float* c, int ldc, long long stride_c,
          int batch = 1);

class GpuLayer {
 public:
  explicit GpuLayer(nn::LayerSpec spec) : spec_(std::move(spec)) {}
  virtual ~GpuLayer() = default;
  const nn::LayerSpec& spec() const { return spec_; }

  virtual void reshape(const GpuBlobs& bottom, const GpuBlobs& top) = 0;
  virtual void forward(const GpuBlobs& bottom, const GpuBlobs& top, const GpuContext& ctx) = 0;
  virtual void backward(const GpuBlobs& top, const std::vector<bool>& propagate, const GpuBlobs& bottom,
                        const GpuContext& ctx) = 0;

  std::vector<std::unique_ptr<GpuBlob>>& params() { return params_; }
  const std::vector<std::unique_ptr<GpuBlob>>& params() const { return params_; }

 protected:
  // "layer 'conv1' (Convolution, GPU)": where an error happened, for messages.
  std::string where() const { return "layer '" + spec_.name + "' (" + spec_.type + ", GPU)"; }
  [[noreturn]] void fail(const std::string& problem) const { throw Error(where(), problem); }
  nn::LayerSpec spec_;
  std::vector<std::unique_ptr<GpuBlob>> params_;
};

// The GPU layer for a spec; parameter blobs are created with the given shapes (from the CPU
// net's initialisation).
std::unique_ptr<GpuLayer> make_gpu_layer(const nn::LayerSpec& spec, const std::vector<std::vector<int>>& param_shapes);

}  // namespace deephash::cuda::detail
