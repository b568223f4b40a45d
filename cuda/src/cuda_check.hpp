#pragma once
// Internal: turning CUDA and cuBLAS status codes into deephash::Error, and device memory that
// frees itself. Host C++ (no kernels), so g++ compiles it too.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash::cuda::detail {

inline std::string describe(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice: return "no CUDA-capable GPU is present";
    case cudaErrorInsufficientDriver:
      // The runtime says the same when there is no driver at all.
      if (!std::ifstream("/proc/driver/nvidia/version").good()) return "no NVIDIA driver is loaded (no GPU on this machine?)";
      return "the NVIDIA driver is too old for this CUDA runtime (update the driver)";
    case cudaErrorMemoryAllocation: return "out of GPU memory";
    default: return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  }
}

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear a sticky-free error so later calls start afresh
    throw Error(std::string("cuda: ") + what, describe(e));
  }
}

inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cublas: ") + what, std::string(cublasGetStatusName(s)) + ": " + cublasGetStatusString(s));
}

// Checks a kernel launch (configuration errors appear at once; faults at the next sync).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Copies n floats from one device buffer to another in `stream`'s order.
inline void copy_on_device(float* to, const float* from, std::size_t n, cudaStream_t stream) {
  check(cudaMemcpyAsync(to, from, n * sizeof(float), cudaMemcpyDeviceToDevice, stream), "copy");
}

// Device memory, plainly allocated (never managed memory), growing on demand.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) { resize(n); }
  ~DeviceArray() {
    if (data_) cudaFree(data_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
                                          capacity_(std::exchange(o.capacity_, 0)) {}
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }

  // Grows the allocation when needed; contents are kept only when it does not grow.
  void resize(std::size_t n) {
    if (n > capacity_) {
      T* fresh = nullptr;
      const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&fresh), n * sizeof(T));
      if (e != cudaSuccess) {
        (void)cudaGetLastError();
        std::size_t free_bytes = 0, total = 0;
        cudaMemGetInfo(&free_bytes, &total);
        throw Error("cuda: allocating device memory",
                    describe(e) + " (" + std::to_string((n * sizeof(T)) >> 20) + " MiB asked, " +
                        std::to_string(free_bytes >> 20) + " MiB free of " + std::to_string(total >> 20) + " MiB)");
      }
      if (data_) cudaFree(data_);
      data_ = fresh;
      capacity_ = n;
    }
    size_ = n;
  }
  void zero() {
    if (size_) check(cudaMemset(data_, 0, size_ * sizeof(T)), "clearing device memory");
  }
  // Clears in `stream`'s order, without stalling the rest of the device.
  void zero(cudaStream_t stream) {
    if (size_) check(cudaMemsetAsync(data_, 0, size_ * sizeof(T), stream), "clearing device memory");
  }
  void upload(const T* host, std::size_t n) {
    resize(n);
    if (n) check(cudaMemcpy(data_, host, n * sizeof(T), cudaMemcpyHostToDevice), "copying to the GPU");
  }
  void download(T* host, std::size_t n) const {
    if (n) check(cudaMemcpy(host, data_, n * sizeof(T), cudaMemcpyDeviceToHost), "copying from the GPU");
  }
  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    download(host.data(), size_);
    return host;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0, capacity_ = 0;
};

}  // namespace deephash::cuda::detail
