#pragma once
// Data-parallel training on several GPUs: the ranks of a job (an MPI job, through the Collective
// interface of core/collective.hpp) each drive one GPU, and NCCL averages their gradients on the
// GPUs, GPU to GPU (NVLink, InfiniBand), without a trip through host memory. Built when the CUDA
// toolkit has NCCL (DEEPHASH_WITH_NCCL); no CUDA or NCCL header is needed to use it.
//
// What the GPU path shares and what it does not (docs/SCALING.md): gradients are averaged, the
// loss is averaged, every rank takes its slice of the global batch with augmentation keyed by
// global position, and all start from rank 0's weights; batch-norm statistics stay per GPU and
// dropout masks are drawn per GPU (as PyTorch's DistributedDataParallel without SyncBatchNorm),
// so N GPUs do not follow the single-GPU curve to float rounding as N CPU ranks do.

#include <cstddef>
#include <memory>

#include "deephash/core/collective.hpp"

namespace deephash::cuda {

class GpuNet;

class NcclGroup {
 public:
  // Collective over `ranks`: rank 0 makes NCCL's id and every rank joins, on `device`.
  NcclGroup(Collective& ranks, int device = 0);
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  Collective& ranks() const;
  // Every learnable parameter's gradient of `net` becomes its mean over the ranks (one grouped
  // NCCL launch on the net's stream); collective.
  void average_gradients(GpuNet& net);
  // Rank 0's weights on every rank's GPU (broadcast); collective.
  void broadcast_weights(GpuNet& net);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deephash::cuda
