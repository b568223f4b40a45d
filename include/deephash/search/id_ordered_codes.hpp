#pragma once
// The codes of an index together with their external ids.
//
// Codes are kept in ascending id order. A scan that visits positions in order therefore meets
// codes at equal distance in ascending id order, so every index orders ties by id without sorting
// anything. Ids are any non-negative 64-bit values (like FAISS's IndexBinaryIDMap2), each at most
// once; -1 is kMissingLabel. While the ids are exactly 0, 1, 2, ... (add() without ids, the
// common case) no id array is stored at all.
//
// Adding ids above every id so far appends; anything else (ids in between, removal) rewrites
// the codes once per call, O(size) — batch such changes.
//
// Codes and ids may be views into a mapped index file (view()); the first change copies them into
// memory of their own. Ids read from a file are checked against its checksums on first use.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/search/code_blocks.hpp"
#include "deephash/search/results.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

class IdOrderedCodes {
 public:
  static constexpr std::size_t npos = ~std::size_t(0);

  explicit IdOrderedCodes(int bits) : blocks_(bits) {}

  // Codes and, unless `ids` is null (ids 0 .. n - 1), their n strictly ascending ids, both inside
  // the region the blocks view; `id_checks` (or null) covers the ids.
  static IdOrderedCodes view(CodeBlocks blocks, const idx_t* ids, std::shared_ptr<const ChunkChecksums> id_checks) {
    IdOrderedCodes c(blocks.bits());
    c.blocks_ = std::move(blocks);
    c.id_view_ = ids;
    c.id_checks_ = std::move(id_checks);
    return c;
  }

  const CodeBlocks& blocks() const { return blocks_; }
  int bits() const { return blocks_.bits(); }
  int words() const { return blocks_.words(); }
  std::size_t size() const { return blocks_.size(); }

  // The external id of the code at `position`.
  idx_t id_at(std::size_t position) const {
    if (id_view_ != nullptr) {
      if (id_checks_) id_checks_->verify(position * sizeof(idx_t), (position + 1) * sizeof(idx_t));
      return id_view_[position];
    }
    return ids_.empty() ? idx_t(position) : ids_[position];
  }
  // The position of `id`, or npos.
  std::size_t find(idx_t id) const {
    if (sequential_ids()) return id >= 0 && std::size_t(id) < size() ? std::size_t(id) : npos;
    if (id_checks_) id_checks_->verify_all();
    const idx_t* first = id_data();
    const idx_t* it = std::lower_bound(first, first + size(), id);
    return it != first + size() && *it == id ? std::size_t(it - first) : npos;
  }
  // One past the largest id: what add() without ids numbers from.
  idx_t next_id() const { return size() == 0 ? 0 : id_at(size() - 1) + 1; }
  // Every id, ascending.
  std::vector<idx_t> ids() const {
    if (!sequential_ids()) {
      if (id_checks_) id_checks_->verify_all();
      return std::vector<idx_t>(id_data(), id_data() + size());
    }
    std::vector<idx_t> all(size());
    std::iota(all.begin(), all.end(), idx_t(0));
    return all;
  }
  bool sequential_ids() const { return ids_.empty() && id_view_ == nullptr; }
  // Whether the codes are a view into a file region.
  bool is_view() const { return blocks_.is_view(); }
  // Checks every code and id read from a file against its checksums.
  void check_all() const {
    blocks_.check_all();
    if (id_checks_) id_checks_->verify_all();
  }

  // Adds n row-major codes with the given ids (nullptr: next_id(), next_id() + 1, ...). Returns
  // true when they all went after the existing codes, so that earlier positions are unchanged.
  bool add(std::size_t n, const std::uint64_t* codes, const idx_t* ids, const std::string& where) {
    if (n == 0) return true;
    own_ids();
    if (ids == nullptr) {
      blocks_.append(codes, n);
      if (!ids_.empty()) {
        const idx_t first = ids_.back() + 1;
        for (std::size_t i = 0; i < n; ++i) ids_.push_back(first + idx_t(i));
      }
      return true;
    }
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ids[a] < ids[b]; });
    for (std::size_t i = 0; i < n; ++i) {
      const idx_t id = ids[order[i]];
      require(id >= 0, where, "id " + std::to_string(id) + " is negative; ids must be >= 0");
      require(i == 0 || ids[order[i - 1]] != id, where, "id " + std::to_string(id) + " is given twice");
    }
    const std::size_t words = std::size_t(this->words());
    const bool append = size() == 0 || ids[order[0]] > id_at(size() - 1);
    if (append) {
      const bool consecutive = ids_.empty() && ids[order[0]] == next_id() &&
                               ids[order[n - 1]] == next_id() + idx_t(n) - 1;
      if (!consecutive && ids_.empty()) ids_ = this->ids();
      RowBuffer rows(words);
      for (std::size_t i = 0; i < n; ++i) {
        rows.push(codes + order[i] * words, blocks_);
        if (!consecutive) ids_.push_back(ids[order[i]]);
      }
      rows.flush(blocks_);
      return true;
    }
    for (std::size_t i = 0; i < n; ++i)
      require(find(ids[order[i]]) == npos, where, "id " + std::to_string(ids[order[i]]) + " is already in the index");
    // Merge the sorted new codes into the stored ones.
    CodeBlocks merged(bits());
    std::vector<idx_t> merged_ids;
    merged_ids.reserve(size() + n);
    RowBuffer rows(words);
    std::vector<std::uint64_t> code(words);
    std::size_t old = 0, added = 0;
    while (old < size() || added < n) {
      if (added == n || (old < size() && id_at(old) < ids[order[added]])) {
        blocks_.copy_code(old, code.data());
        rows.push(code.data(), merged);
        merged_ids.push_back(id_at(old++));
      } else {
        rows.push(codes + order[added] * words, merged);
        merged_ids.push_back(ids[order[added++]]);
      }
    }
    rows.flush(merged);
    blocks_ = std::move(merged);
    ids_ = std::move(merged_ids);
    return false;
  }

  // Removes the codes of the given ids; ids that are not stored are ignored. The others keep
  // their ids. Returns how many were removed.
  std::size_t remove(std::size_t n, const idx_t* ids) {
    own_ids();
    std::vector<char> gone(size(), 0);
    std::size_t removed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t p = find(ids[i]);
      if (p != npos && !gone[p]) {
        gone[p] = 1;
        ++removed;
      }
    }
    if (removed == 0) return 0;
    CodeBlocks kept(bits());
    std::vector<idx_t> kept_ids;
    kept_ids.reserve(size() - removed);
    const std::size_t words = std::size_t(this->words());
    RowBuffer rows(words);
    std::vector<std::uint64_t> code(words);
    for (std::size_t p = 0; p < size(); ++p) {
      if (gone[p]) continue;
      blocks_.copy_code(p, code.data());
      rows.push(code.data(), kept);
      kept_ids.push_back(id_at(p));
    }
    rows.flush(kept);
    blocks_ = std::move(kept);
    ids_ = std::move(kept_ids);
    return removed;
  }

  void clear() { *this = IdOrderedCodes(bits()); }

  // Code at `position`, row-major, into out[0 .. words()).
  void copy_code(std::size_t position, std::uint64_t* out) const { blocks_.copy_code(position, out); }

  std::size_t memory_bytes() const { return blocks_.memory_bytes() + ids_.capacity() * sizeof(idx_t); }

 private:
  // Gathers row-major codes and appends them to blocks a few thousand at a time.
  class RowBuffer {
   public:
    explicit RowBuffer(std::size_t words) : words_(words) {}
    void push(const std::uint64_t* code, CodeBlocks& to) {
      rows_.insert(rows_.end(), code, code + words_);
      if (rows_.size() >= kRows * words_) flush(to);
    }
    void flush(CodeBlocks& to) {
      to.append(rows_.data(), rows_.size() / words_);
      rows_.clear();
    }

   private:
    static constexpr std::size_t kRows = 4096;
    std::size_t words_;
    std::vector<std::uint64_t> rows_;
  };

  const idx_t* id_data() const { return id_view_ != nullptr ? id_view_ : ids_.data(); }

  // Copies ids viewed in a file (checked first) into memory of our own, before a change.
  void own_ids() {
    if (id_view_ == nullptr) return;
    if (id_checks_) id_checks_->verify_all();
    ids_.assign(id_view_, id_view_ + size());
    id_view_ = nullptr;
    id_checks_.reset();
  }

  CodeBlocks blocks_;
  std::vector<idx_t> ids_;  // empty while the ids are 0 .. size() - 1 (or viewed)
  const idx_t* id_view_ = nullptr;
  std::shared_ptr<const ChunkChecksums> id_checks_;
};

// Results found as positions, written as ids. Positions ascend with ids, so (distance, position)
// order is (distance, id) order.

// k results: ranks past `best` get kMissingDistance / kMissingLabel.
inline void write_knn(const std::vector<Neighbor>& best, const IdOrderedCodes& codes, std::size_t k,
                      std::int32_t* distances, idx_t* labels) {
  for (std::size_t r = 0; r < k; ++r) {
    distances[r] = r < best.size() ? best[r].distance : kMissingDistance;
    labels[r] = r < best.size() ? codes.id_at(std::size_t(best[r].id)) : kMissingLabel;
  }
}

// Per-query lists of positions as one RangeSearchResult.
inline RangeSearchResult gather_ranges(const std::vector<std::vector<Neighbor>>& found, const IdOrderedCodes& codes) {
  RangeSearchResult result;
  result.lims.assign(found.size() + 1, 0);
  for (std::size_t q = 0; q < found.size(); ++q) result.lims[q + 1] = result.lims[q] + found[q].size();
  result.labels.reserve(result.lims.back());
  result.distances.reserve(result.lims.back());
  for (const auto& f : found)
    for (const Neighbor& n : f) {
      result.labels.push_back(codes.id_at(std::size_t(n.id)));
      result.distances.push_back(n.distance);
    }
  return result;
}

}  // namespace deephash
