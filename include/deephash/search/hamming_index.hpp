#pragma once
// The flat index: exact Hamming search by scanning every code, shaped like FAISS's
// IndexBinaryFlat (and IndexBinaryIDMap2 when codes are added with ids). See BinaryIndex for the
// contract: results ordered by (distance, id), k past the database filled with kMissingDistance /
// kMissingLabel.
//
// Threads: a batch of at least as many queries as threads is split by query; smaller batches
// split the database, so that a single query uses every core. Each thread streams the database in
// cache-sized chunks and runs all its queries over a chunk before moving on.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/io/container/index_payload.hpp"
#include "deephash/search/block_scanner.hpp"
#include "deephash/search/code_blocks.hpp"
#include "deephash/search/id_ordered_codes.hpp"
#include "deephash/search/stored_codes_index.hpp"
#include "deephash/search/results.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

template <class Backend = simd::DefaultBackend>
class BasicHammingIndex : public StoredCodesIndex {
 public:
  explicit BasicHammingIndex(int bits, unsigned num_threads = default_num_threads())
      : StoredCodesIndex("HammingIndex", bits, num_threads) {}
  // An index over codes already stored (what load_index builds).
  BasicHammingIndex(IdOrderedCodes codes, unsigned num_threads)
      : StoredCodesIndex("HammingIndex", std::move(codes), num_threads) {}

  std::string kind() const override { return "flat"; }
  static const char* backend_name() { return Backend::name(); }

  void reset() override { codes_.clear(); }

  std::size_t memory_bytes() const override { return codes_.memory_bytes(); }


 protected:
  IndexFileFormat file_format() const override { return flat_index_file_format(); }
  void add_codes(std::size_t n, const std::uint64_t* codes, const idx_t* ids) override { store(n, codes, ids); }
  std::size_t remove_codes(std::size_t n, const idx_t* ids) override { return codes_.remove(n, ids); }

  void search_codes(std::size_t nq, const std::uint64_t* queries, std::size_t k, std::int32_t* distances,
                    idx_t* labels) const override {
    BlockScanner<Backend>(codes_.blocks(), *pool_).knn(nq, queries, k, [&](std::size_t q, const std::vector<Neighbor>& best) {
      write_knn(best, codes_, k, distances + q * k, labels + q * k);
    });
  }

  RangeSearchResult range_search_codes(std::size_t nq, const std::uint64_t* queries, int radius) const override {
    std::vector<std::vector<Neighbor>> found(nq);
    BlockScanner<Backend>(codes_.blocks(), *pool_)
        .within(nq, queries, radius, [&](std::size_t q, std::vector<Neighbor>& all) { found[q] = std::move(all); });
    return gather_ranges(found, codes_);
  }

};

using HammingIndex = BasicHammingIndex<>;

#ifdef DEEPHASH_PRECOMPILED  // compiled once, in search/index_instances.cpp (see nn/layer_factory.hpp)
extern template class BasicHammingIndex<simd::DefaultBackend>;
#endif

}  // namespace deephash
