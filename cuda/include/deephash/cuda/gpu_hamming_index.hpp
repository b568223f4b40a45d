#pragma once
// Exact Hamming search on the GPU, with the CPU HammingIndex's contract: the same codes in, the
// same results out — k nearest ordered by (distance, id), k past the database filled with
// kMissingDistance / kMissingLabel, radius search (distance <= r) ordered the same way.
//
// The database is split across all multiprocessors and each block runs several queries over its
// part; top-k is a histogram (radix) select: one pass counts distances per query, the k-th
// distance and how many ties at it are needed follow, a second pass keeps exactly the codes
// that can be among the k best, and a segmented sort orders them by (distance, id).

#include <memory>
#include <string>

#include "deephash/search/stored_codes_index.hpp"

namespace deephash::cuda {

// A BinaryIndex (kind "gpu-flat"): ids, removal and save as for the CPU indexes. The codes and ids
// are kept on the host too (add and remove re-upload them; saving writes a flat index file, which
// loads as a CPU HammingIndex), and searches map the device's positions to ids.
class GpuHammingIndex : public StoredCodesIndex {
 public:
  // host_threads: the pool for work that follows a search (reranking, scoring).
  explicit GpuHammingIndex(int bits, unsigned host_threads = default_num_threads());
  ~GpuHammingIndex() override;
  GpuHammingIndex(GpuHammingIndex&&) noexcept;
  GpuHammingIndex& operator=(GpuHammingIndex&&) noexcept;

  std::string kind() const override { return "gpu-flat"; }
  void reset() override;
  std::size_t memory_bytes() const override { return codes_.memory_bytes(); }

 protected:
  // A flat index file: it loads as a CPU HammingIndex.
  IndexFileFormat file_format() const override { return flat_index_file_format(); }
  void add_codes(std::size_t n, const std::uint64_t* codes, const idx_t* ids) override;
  std::size_t remove_codes(std::size_t n, const idx_t* ids) override;
  void search_codes(std::size_t nq, const std::uint64_t* queries, std::size_t k, std::int32_t* distances,
                    idx_t* labels) const override;
  RangeSearchResult range_search_codes(std::size_t nq, const std::uint64_t* queries, int radius) const override;

 private:
  void upload();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deephash::cuda
