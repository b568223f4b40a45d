// Finding the GPU.

#include "deephash/cuda/device.hpp"

#include "cuda_check.hpp"

namespace deephash::cuda {

bool available(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = detail::describe(e);
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA-capable GPU is present";
    return false;
  }
  return true;
}

DeviceInfo device_info() {
  std::string why;
  if (!available(&why)) throw Error("cuda", why);
  int device = 0;
  detail::check(cudaGetDevice(&device), "querying the current device");
  cudaDeviceProp p{};
  detail::check(cudaGetDeviceProperties(&p, device), "querying device properties");
  DeviceInfo info;
  info.name = p.name;
  info.multiprocessors = p.multiProcessorCount;
  info.compute_major = p.major;
  info.compute_minor = p.minor;
  std::size_t free_bytes = 0, total = 0;
  detail::check(cudaMemGetInfo(&free_bytes, &total), "querying device memory");
  info.memory_bytes = total;
  info.free_bytes = free_bytes;
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  return info;
}

}  // namespace deephash::cuda
