#pragma once
// deephash::cuda — the optional GPU module. This header and the others of the module need no
// CUDA headers: a program that links deephash::cuda compiles with any C++17 compiler.
//
// Errors are deephash::Error with the usual "source: problem" message; "no usable GPU", "driver
// too old" and "out of GPU memory (N MiB asked, M MiB free)" are spelled out rather than given as
// CUDA error codes.

#include <cstddef>
#include <string>

namespace deephash::cuda {

// Whether a usable GPU is there. On machines without one, cudaGetDeviceCount returns an error
// rather than 0; both mean false, and `why` says which.
bool available(std::string* why = nullptr);

struct DeviceInfo {
  std::string name;
  int multiprocessors = 0;
  int compute_major = 0, compute_minor = 0;
  std::size_t memory_bytes = 0, free_bytes = 0;
  int driver_version = 0, runtime_version = 0;
};

// The current device; throws when there is none.
DeviceInfo device_info();

// How matrix products run: exact FP32 (the default, results comparable with the CPU), or the
// faster tensor-core modes (TF32 inputs, or BF16 inputs with FP32 accumulation) as an opt-in.
enum class MathMode { FP32, TF32, BF16 };

}  // namespace deephash::cuda
