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

#include "deephash/codes/bit_codes.hpp"
#include "deephash/search/results.hpp"

namespace deephash::cuda {

class GpuHammingIndex {
 public:
  explicit GpuHammingIndex(int bits);
  ~GpuHammingIndex();
  GpuHammingIndex(GpuHammingIndex&&) noexcept;
  GpuHammingIndex& operator=(GpuHammingIndex&&) noexcept;

  int bits() const;
  idx_t size() const;
  void add(const BitCodes& codes);
  void reset();

  KnnResult search(const BitCodes& queries, idx_t k) const;
  RangeSearchResult range_search(const BitCodes& queries, int radius) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deephash::cuda
