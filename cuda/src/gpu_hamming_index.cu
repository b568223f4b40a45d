// GpuHammingIndex (see the header for the method).

#include <cub/device/device_segmented_radix_sort.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <string>
#include <numeric>

#include "cuda_check.hpp"
#include "deephash/cuda/device.hpp"
#include "deephash/cuda/gpu_hamming_index.hpp"
#include "deephash/io/container/index_payload.hpp"

namespace deephash::cuda {

using detail::check;
using detail::DeviceArray;

namespace {

constexpr int kQueriesPerBlock = 4;
constexpr std::size_t kSelectionBudget = std::size_t(1) << 28;  // keys (8 bytes each) per sort
constexpr int kThreads = 256;

__device__ inline int distance(const std::uint64_t* a, const std::uint64_t* b, int words) {
  int d = 0;
  for (int w = 0; w < words; ++w) d += __popcll(a[w] ^ b[w]);
  return d;
}

// Per query, the number of database codes at each distance (bins 0 .. bits). Blocks take
// groups of kQueriesPerBlock queries (blockIdx.y, striding by gridDim.y: the grid's y extent is
// capped at 65,535) and a slice of the database; counts gather in shared memory first.
__global__ void histogram_kernel(const std::uint64_t* db, std::size_t n, const std::uint64_t* queries, int nq, int words,
                                 int bits, unsigned* histograms) {
  extern __shared__ unsigned local[];
  const int bins = bits + 1;
  for (int q0 = blockIdx.y * kQueriesPerBlock; q0 < nq; q0 += gridDim.y * kQueriesPerBlock) {
    for (int i = threadIdx.x; i < kQueriesPerBlock * bins; i += blockDim.x) local[i] = 0;
    __syncthreads();
    for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(blockDim.x) * gridDim.x)
      for (int q = 0; q < kQueriesPerBlock && q0 + q < nq; ++q)
        atomicAdd(&local[q * bins + distance(db + i * words, queries + std::size_t(q0 + q) * words, words)], 1u);
    __syncthreads();
    for (int i = threadIdx.x; i < kQueriesPerBlock * bins; i += blockDim.x)
      if (q0 + i / bins < nq && local[i]) atomicAdd(&histograms[std::size_t(q0) * bins + i], local[i]);
    __syncthreads();  // local[] is cleared for the next group only once every thread has flushed it
  }
}

// Keeps, per query, every code with distance <= limit[q] as a key (distance << 40 | id) at the
// query's segment; cursors count the keys written. Query groups as in histogram_kernel.
__global__ void select_kernel(const std::uint64_t* db, std::size_t n, const std::uint64_t* queries, int nq, int words,
                              const int* limits, const std::size_t* offsets, unsigned long long* cursors,
                              unsigned long long* keys) {
  for (int q0 = blockIdx.y * kQueriesPerBlock; q0 < nq; q0 += gridDim.y * kQueriesPerBlock)
    for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(blockDim.x) * gridDim.x)
      for (int q = 0; q < kQueriesPerBlock && q0 + q < nq; ++q) {
        const int d = distance(db + i * words, queries + std::size_t(q0 + q) * words, words);
        if (d <= limits[q0 + q]) {
          const unsigned long long slot = atomicAdd(&cursors[q0 + q], 1ull);
          keys[offsets[q0 + q] + slot] = (static_cast<unsigned long long>(d) << 40) | i;
        }
      }
}

dim3 grid_for(std::size_t n, int nq) {
  int device = 0, sms = 1;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  const unsigned blocks = unsigned(std::min<std::size_t>((n + kThreads - 1) / kThreads, std::size_t(sms) * 4));
  const int groups = (nq + kQueriesPerBlock - 1) / kQueriesPerBlock;
  return dim3(std::max(1u, blocks), unsigned(std::clamp(groups, 1, 65535)));  // the kernels stride over the rest
}

}  // namespace

struct GpuHammingIndex::Impl {
  int bits;
  std::size_t n = 0;  // codes on the device, row-major in position (= ascending id) order
  DeviceArray<std::uint64_t> codes;
};

GpuHammingIndex::GpuHammingIndex(int bits, unsigned host_threads)
    : StoredCodesIndex("GpuHammingIndex", bits, host_threads), impl_(std::make_unique<Impl>()) {
  std::string why;
  if (!available(&why)) throw Error("GpuHammingIndex", why);
  impl_->bits = bits;
}
GpuHammingIndex::~GpuHammingIndex() = default;
GpuHammingIndex::GpuHammingIndex(GpuHammingIndex&&) noexcept = default;
GpuHammingIndex& GpuHammingIndex::operator=(GpuHammingIndex&&) noexcept = default;

void GpuHammingIndex::upload() {
  const std::size_t words = std::size_t(codes_.words());
  std::vector<std::uint64_t> rows(codes_.size() * words);
  for (std::size_t p = 0; p < codes_.size(); ++p) codes_.copy_code(p, rows.data() + p * words);
  impl_->n = codes_.size();
  if (!rows.empty()) impl_->codes.upload(rows.data(), rows.size());
}

void GpuHammingIndex::add_codes(std::size_t n, const std::uint64_t* codes, const idx_t* ids) {
  store(n, codes, ids);
  upload();
}

std::size_t GpuHammingIndex::remove_codes(std::size_t n, const idx_t* ids) {
  const std::size_t removed = codes_.remove(n, ids);
  if (removed) upload();
  return removed;
}

void GpuHammingIndex::reset() {
  codes_.clear();
  impl_->n = 0;
}

namespace {

// Per query, how many database codes lie at each distance 0 .. bits (row-major nq x (bits + 1)).
std::vector<unsigned> distance_histograms(const DeviceArray<std::uint64_t>& db, std::size_t n, int bits, const BitCodes& queries) {
  const int words = words_for_bits(bits), bins = bits + 1, nq = int(queries.size());
  DeviceArray<std::uint64_t> q_codes;
  q_codes.upload(queries.data(), queries.size() * std::size_t(words));
  DeviceArray<unsigned> histograms(std::size_t(nq) * bins);
  histograms.zero();
  // From 3,072 bits the counts outgrow the 48 KB of shared memory a kernel gets by default; the
  // device allows more (227 KB on an H100) once asked.
  const std::size_t shared_bytes = std::size_t(kQueriesPerBlock) * std::size_t(bins) * sizeof(unsigned);
  if (shared_bytes > 48 * 1024) {
    const std::string what = "asking for " + std::to_string(shared_bytes) + " bytes of shared memory for " +
                             std::to_string(bits) + "-bit codes";
    check(cudaFuncSetAttribute(histogram_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)),
          what.c_str());
  }
  histogram_kernel<<<grid_for(n, nq), kThreads, shared_bytes>>>(db.data(), n, q_codes.data(), nq, words, bits,
                                                                histograms.data());
  detail::check_launch("histogram_kernel");
  std::vector<unsigned> h(std::size_t(nq) * bins);
  check(cudaDeviceSynchronize(), "counting distances");
  histograms.download(h.data(), h.size());
  return h;
}

// Codes within limits[q] of each query, sorted by (distance, id) per query.
struct Selection {
  std::vector<std::size_t> offsets;  // nq + 1
  std::vector<unsigned long long> keys;
};

Selection select_sorted(const DeviceArray<std::uint64_t>& db, std::size_t n, int words, const BitCodes& queries,
                        const std::vector<int>& limits, const std::vector<std::size_t>& counts) {
  const int nq = int(queries.size());
  Selection s;
  s.offsets.assign(std::size_t(nq) + 1, 0);
  for (int q = 0; q < nq; ++q) s.offsets[std::size_t(q) + 1] = s.offsets[std::size_t(q)] + counts[std::size_t(q)];
  const std::size_t total = s.offsets.back();
  DeviceArray<std::uint64_t> q_codes;
  q_codes.upload(queries.data(), queries.size() * std::size_t(words));
  DeviceArray<int> d_limits;
  d_limits.upload(limits.data(), limits.size());
  DeviceArray<std::size_t> d_offsets;
  d_offsets.upload(s.offsets.data(), s.offsets.size());
  DeviceArray<unsigned long long> cursors(static_cast<std::size_t>(nq)), keys(std::max<std::size_t>(total, 1)), sorted(std::max<std::size_t>(total, 1));
  cursors.zero();
  if (n > 0 && nq > 0) {
    select_kernel<<<grid_for(n, nq), kThreads>>>(db.data(), n, q_codes.data(), nq, words, d_limits.data(), d_offsets.data(),
                                                 cursors.data(), keys.data());
    detail::check_launch("select_kernel");
  }
  // Order each query's keys: (distance, id) packed so that integer order is that order. CUB
  // counts items in an int: callers keep a group's selection within kSelectionBudget, and a
  // single query beyond INT_MAX codes is refused rather than wrapped.
  if (total > std::size_t(std::numeric_limits<int>::max()))
    throw Error("GpuHammingIndex", "a query selects " + std::to_string(total) + " codes, more than one sort takes (" +
                                       std::to_string(std::numeric_limits<int>::max()) + "): search with a smaller k or radius");
  if (total > 0) {
    std::size_t temp_bytes = 0;
    cub::DeviceSegmentedRadixSort::SortKeys(nullptr, temp_bytes, keys.data(), sorted.data(), int(total), nq, d_offsets.data(),
                                            d_offsets.data() + 1);
    DeviceArray<unsigned char> temp(temp_bytes);
    check(cub::DeviceSegmentedRadixSort::SortKeys(temp.data(), temp_bytes, keys.data(), sorted.data(), int(total), nq,
                                                  d_offsets.data(), d_offsets.data() + 1),
          "sorting the selected codes");
  }
  check(cudaDeviceSynchronize(), "searching");
  s.keys.resize(total);
  sorted.download(s.keys.data(), total);
  return s;
}

// The end of the group of queries from q0 whose selections fit kSelectionBudget together (at
// least one query).
std::size_t next_group(const std::vector<std::size_t>& counts, std::size_t q0) {
  std::size_t q1 = q0, total = 0;
  while (q1 < counts.size() && (q1 == q0 || total + counts[q1] <= kSelectionBudget)) total += counts[q1++];
  return q1;
}

}  // namespace

void GpuHammingIndex::search_codes(std::size_t num_queries, const std::uint64_t* query_words, std::size_t k,
                                   std::int32_t* distances, idx_t* labels) const {
  std::fill(distances, distances + num_queries * k, kMissingDistance);
  std::fill(labels, labels + num_queries * k, kMissingLabel);
  if (impl_->n == 0) return;
  const BitCodes queries = BitCodes::from_words(num_queries, impl_->bits, query_words);
  const int words = words_for_bits(impl_->bits), bins = impl_->bits + 1, nq = int(num_queries);

  // Pass 1: distance histograms, hence each query's k-th distance.
  const std::vector<unsigned> h = distance_histograms(impl_->codes, impl_->n, impl_->bits, queries);
  std::vector<int> limits(static_cast<std::size_t>(nq));
  std::vector<std::size_t> counts(static_cast<std::size_t>(nq));
  for (int q = 0; q < nq; ++q) {
    std::size_t seen = 0;
    int t = impl_->bits;
    for (int d = 0; d <= impl_->bits; ++d) {
      seen += h[std::size_t(q) * bins + d];
      if (seen >= std::size_t(k)) {
        t = d;
        break;
      }
    }
    limits[std::size_t(q)] = t;
    counts[std::size_t(q)] = seen;
  }
  // Pass 2: every code at or below the k-th distance, sorted; the first k are the answer (ties
  // at the k-th distance resolve by id, as on the CPU). Queries go in groups whose selections fit
  // a fixed budget of device memory (many ties at the k-th distance make selections large).
  for (std::size_t q0 = 0; q0 < std::size_t(nq);) {
    const std::size_t q1 = next_group(counts, q0);
    const std::vector<int> group_limits(limits.begin() + std::ptrdiff_t(q0), limits.begin() + std::ptrdiff_t(q1));
    const std::vector<std::size_t> group_counts(counts.begin() + std::ptrdiff_t(q0), counts.begin() + std::ptrdiff_t(q1));
    const Selection s = select_sorted(impl_->codes, impl_->n, words, queries.slice(q0, q1), group_limits, group_counts);
    for (std::size_t q = q0; q < q1; ++q) {
      const std::size_t begin = s.offsets[q - q0], end = s.offsets[q - q0 + 1];
      for (std::size_t j = 0; j < k && begin + j < end; ++j) {
        const unsigned long long key = s.keys[begin + j];
        distances[q * k + j] = std::int32_t(key >> 40);
        labels[q * k + j] = codes_.id_at(std::size_t(key & ((1ull << 40) - 1)));
      }
    }
    q0 = q1;
  }
}

RangeSearchResult GpuHammingIndex::range_search_codes(std::size_t num_queries, const std::uint64_t* query_words,
                                                      int radius) const {
  const BitCodes queries = BitCodes::from_words(num_queries, impl_->bits, query_words);
  const int words = words_for_bits(impl_->bits), bins = impl_->bits + 1, nq = int(queries.size());
  RangeSearchResult result;
  result.lims.assign(std::size_t(nq) + 1, 0);
  if (nq == 0 || impl_->n == 0) return result;
  const std::vector<unsigned> h = distance_histograms(impl_->codes, impl_->n, impl_->bits, queries);
  const int r = std::min(radius, impl_->bits);
  std::vector<int> limits(static_cast<std::size_t>(nq), r);
  std::vector<std::size_t> counts(static_cast<std::size_t>(nq));
  for (int q = 0; q < nq; ++q)
    counts[std::size_t(q)] = std::accumulate(h.begin() + std::ptrdiff_t(q) * bins, h.begin() + std::ptrdiff_t(q) * bins + r + 1, std::size_t(0));
  // Queries in groups whose selections fit the budget, as in search.
  for (std::size_t q0 = 0; q0 < std::size_t(nq);) {
    const std::size_t q1 = next_group(counts, q0);
    const std::vector<int> group_limits(limits.begin() + std::ptrdiff_t(q0), limits.begin() + std::ptrdiff_t(q1));
    const std::vector<std::size_t> group_counts(counts.begin() + std::ptrdiff_t(q0), counts.begin() + std::ptrdiff_t(q1));
    const Selection s = select_sorted(impl_->codes, impl_->n, words, queries.slice(q0, q1), group_limits, group_counts);
    for (std::size_t q = q0; q < q1; ++q) result.lims[q + 1] = result.lims[q0] + s.offsets[q - q0 + 1];
    for (unsigned long long key : s.keys) {
      result.distances.push_back(std::int32_t(key >> 40));
      result.labels.push_back(codes_.id_at(std::size_t(key & ((1ull << 40) - 1))));
    }
    q0 = q1;
  }
  return result;
}

}  // namespace deephash::cuda
