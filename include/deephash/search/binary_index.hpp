#pragma once
// What every Hamming index offers (the flat scan, multi-index hashing, the GPU index), shaped like
// FAISS's IndexBinary: add codes, with ids or without, then search batches of queries for their k
// nearest codes or for every code within a radius; remove codes by id; save.
//
// The contract all of them keep, so that one can stand in for another with identical results:
// - k-NN and radius results are ordered by (distance, id): ties by ascending external id;
// - a k larger than the index fills the ranks past its size with kMissingDistance / kMissingLabel;
// - ids are non-negative 64-bit values, unique; add() without ids numbers from one past the
//   largest id so far (0, 1, 2, ... for a fresh index); removal never renumbers the rest;
// - search and range_search are const and may run concurrently with each other; anything that
//   changes the index must not run concurrently with anything else on it.
//
// Rerank and evaluation take a `const BinaryIndex&`; load_index (io/container/index_file.hpp)
// reads any kind of index file back.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/search/results.hpp"

namespace deephash {

class BinaryIndex {
 public:
  virtual ~BinaryIndex() = default;

  // "flat", "mih", "gpu-flat": also the kind written to index files.
  virtual std::string kind() const = 0;
  virtual int bits() const = 0;
  virtual idx_t size() const = 0;
  int words_per_code() const { return words_for_bits(bits()); }

  // Adds n row-major codes of words_per_code() words. Without ids they get next_id() onwards.
  void add_with_ids(idx_t n, const std::uint64_t* codes, const idx_t* ids) {
    require(n >= 0, kind() + " index: add", "negative number of codes");
    add_codes(std::size_t(n), codes, ids);
  }
  void add(idx_t n, const std::uint64_t* codes) { add_with_ids(n, codes, nullptr); }
  // Removes the codes of the given ids (absent ids are ignored); returns how many were removed.
  idx_t remove_ids(idx_t n, const idx_t* ids) {
    require(n >= 0, kind() + " index: remove_ids", "negative number of ids");
    return idx_t(remove_codes(std::size_t(n), ids));
  }
  virtual void reset() = 0;

  // Every id, ascending; whether one is present; its code (row-major, words_per_code() words).
  virtual std::vector<idx_t> ids() const = 0;
  virtual bool contains(idx_t id) const = 0;
  virtual void reconstruct(idx_t id, std::uint64_t* out) const = 0;
  // One past the largest id (0 when empty).
  virtual idx_t next_id() const = 0;

  // The k nearest codes of each of nq queries: distances and labels are nq x k, row-major.
  void search(idx_t nq, const std::uint64_t* queries, idx_t k, std::int32_t* distances, idx_t* labels) const {
    require(nq >= 0, kind() + " index: search", "negative number of queries");
    require(k >= 0, kind() + " index: search", "k must be >= 0, got " + std::to_string(k));
    if (nq > 0 && k > 0) search_codes(std::size_t(nq), queries, std::size_t(k), distances, labels);
  }
  // Every code within Hamming distance <= radius of each query, ordered by (distance, id).
  RangeSearchResult range_search(idx_t nq, const std::uint64_t* queries, int radius) const {
    require(nq >= 0, kind() + " index: range_search", "negative number of queries");
    require(radius >= 0, kind() + " index: range_search", "radius must be >= 0, got " + std::to_string(radius));
    return range_search_codes(std::size_t(nq), queries, std::min(radius, bits()));
  }

  // Writes the index to a checksummed file, atomically (a failed save leaves the old file);
  // load_index (io/container/index_file.hpp) reads any kind back.
  virtual void save(const std::string& path) const = 0;

  // The threads the index searches with, for work that follows a search (reranking, scoring).
  virtual ThreadPool& thread_pool() const = 0;
  // Bytes the index holds in host memory.
  virtual std::size_t memory_bytes() const = 0;

  // The same over BitCodes.
  void add(const BitCodes& codes) {
    check_same_bits(bits(), codes.bits(), kind() + " index: add");
    add(idx_t(codes.size()), codes.data());
  }
  void add_with_ids(const BitCodes& codes, const std::vector<idx_t>& ids) {
    check_same_bits(bits(), codes.bits(), kind() + " index: add_with_ids");
    require(ids.size() == codes.size(), kind() + " index: add_with_ids",
            std::to_string(codes.size()) + " codes but " + std::to_string(ids.size()) + " ids");
    add_with_ids(idx_t(codes.size()), codes.data(), ids.data());
  }
  idx_t remove_ids(const std::vector<idx_t>& ids) { return remove_ids(idx_t(ids.size()), ids.data()); }
  KnnResult search(const BitCodes& queries, idx_t k) const {
    check_same_bits(bits(), queries.bits(), kind() + " index: search");
    require(k >= 0, kind() + " index: search", "k must be >= 0, got " + std::to_string(k));
    KnnResult r;
    r.nq = idx_t(queries.size());
    r.k = k;
    r.distances.resize(std::size_t(r.nq * k));
    r.labels.resize(std::size_t(r.nq * k));
    search(r.nq, queries.data(), k, r.distances.data(), r.labels.data());
    return r;
  }
  RangeSearchResult range_search(const BitCodes& queries, int radius) const {
    check_same_bits(bits(), queries.bits(), kind() + " index: range_search");
    return range_search(idx_t(queries.size()), queries.data(), radius);
  }
  // Every code, in ascending id order.
  BitCodes codes() const {
    const std::vector<idx_t> all = ids();
    BitCodes out(all.size(), bits());
    for (std::size_t i = 0; i < all.size(); ++i) reconstruct(all[i], out.code(i));
    return out;
  }

 protected:
  // What each kind implements; arguments are checked (n, nq, k >= 1, 0 <= radius <= bits).
  virtual void add_codes(std::size_t n, const std::uint64_t* codes, const idx_t* ids) = 0;
  virtual std::size_t remove_codes(std::size_t n, const idx_t* ids) = 0;
  virtual void search_codes(std::size_t nq, const std::uint64_t* queries, std::size_t k, std::int32_t* distances,
                            idx_t* labels) const = 0;
  virtual RangeSearchResult range_search_codes(std::size_t nq, const std::uint64_t* queries, int radius) const = 0;

  BinaryIndex() = default;
  BinaryIndex(const BinaryIndex&) = default;
  BinaryIndex& operator=(const BinaryIndex&) = default;
};

}  // namespace deephash
