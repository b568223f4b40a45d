// NcclGroup: NCCL communicators made from a Collective, and the gradient average.

#include "deephash/cuda/nccl_group.hpp"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "deephash/cuda/gpu_net.hpp"

namespace deephash::cuda {

namespace {

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw Error(std::string("NCCL: ") + what, ncclGetErrorString(r));
}

}  // namespace

struct NcclGroup::Impl {
  Collective& ranks;
  ncclComm_t comm = nullptr;
};

NcclGroup::NcclGroup(Collective& ranks, int device) : impl_(new Impl{ranks}) {
  detail::check(cudaSetDevice(device), "choosing the GPU");
  // NCCL's 128-byte id travels through the group's one exchange, sums: rank 0 contributes its
  // bytes, the others zeros, each byte as a double (exact).
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  std::string problem;
  if (ranks.rank() == 0) {
    const ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) problem = std::string("NCCL: making the group's id: ") + ncclGetErrorString(r);
  }
  ranks.agree("NCCL group", problem);
  std::vector<double> bytes(sizeof id.internal);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = double(static_cast<unsigned char>(id.internal[i]));
  ranks.allreduce_sum(bytes.data(), bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) id.internal[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]));
  const ncclResult_t joined = ncclCommInitRank(&impl_->comm, ranks.size(), id, ranks.rank());
  ranks.agree("NCCL group", joined == ncclSuccess ? "" : std::string("NCCL: joining the group: ") + ncclGetErrorString(joined));
}

NcclGroup::~NcclGroup() {
  if (impl_->comm) ncclCommDestroy(impl_->comm);
}

Collective& NcclGroup::ranks() const { return impl_->ranks; }

void NcclGroup::average_gradients(GpuNet& net) {
  cudaStream_t stream = static_cast<cudaStream_t>(net.stream_handle());
  check_nccl(ncclGroupStart(), "starting the gradient average");
  for (const auto& [diff, count] : net.param_buffers(true))
    check_nccl(ncclAllReduce(diff, diff, count, ncclFloat, ncclAvg, impl_->comm, stream), "averaging a gradient");
  check_nccl(ncclGroupEnd(), "averaging the gradients");
}

void NcclGroup::broadcast_weights(GpuNet& net) {
  cudaStream_t stream = static_cast<cudaStream_t>(net.stream_handle());
  check_nccl(ncclGroupStart(), "starting the weight broadcast");
  for (const auto& [data, count] : net.param_buffers(false))
    check_nccl(ncclBroadcast(data, data, count, ncclFloat, 0, impl_->comm, stream), "broadcasting a parameter");
  check_nccl(ncclGroupEnd(), "broadcasting the weights");
  net.synchronize();
}

}  // namespace deephash::cuda
