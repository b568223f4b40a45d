#pragma once
// One Hamming index over the shards of a collection held by the ranks of a job: each rank holds
// its shard in an ordinary index (flat, multi-index hashing: any BinaryIndex) whose ids are the
// items' global ids, and ShardedIndex is the BinaryIndex of their union. A search gives every
// rank's local top k (or everything within the radius) to every rank, which merges them by
// (distance, global id): exactly the results of one index over the union, ties included, so that
// rerank and evaluation (eval/) run over it unchanged.
//
// Every member is collective: all ranks call it, in the same order, with the same arguments
// (queries included: checked, and a mismatch stops every rank). Search and range search are
// therefore not concurrent with each other, unlike a local index. Codes added go, whole batches,
// to the rank that holds the fewest (the lowest such rank); removal, ids and lookups ask every
// rank. memory_bytes() is this rank's.
//
// Network bytes per query: k x 12 bytes (a 4-byte distance and an 8-byte id) from each rank to
// every other; docs/SCALING.md has the cost model.

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/checksum.hpp"
#include "deephash/io/container/index_file.hpp"
#include "deephash/io/container/shard_manifest.hpp"
#include "deephash/mpi/communicator.hpp"
#include "deephash/mpi/sharded_encode.hpp"
#include "deephash/search/binary_index.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash::mpi {

namespace detail {

template <class T>
void append_pod(std::vector<std::uint8_t>& out, const T* data, std::size_t n) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
  out.insert(out.end(), bytes, bytes + n * sizeof(T));
}

// Reads n values of T at `at` of `bytes`, advancing `at`.
template <class T>
const T* take_pod(const std::vector<std::uint8_t>& bytes, std::size_t& at, std::size_t n) {
  if (bytes.size() - at < n * sizeof(T)) throw Error("sharded index", "internal error: a rank's results are truncated");
  const T* p = reinterpret_cast<const T*>(bytes.data() + at);
  at += n * sizeof(T);
  return p;
}

}  // namespace detail

class ShardedIndex : public BinaryIndex {
 public:
  // Collective. `local` holds this rank's shard under global ids; the ranks' code lengths and
  // ids must agree (same bits; no id on two ranks: the union's ids are unique).
  ShardedIndex(Communicator& comm, std::unique_ptr<BinaryIndex> local) : comm_(comm), local_(std::move(local)) {
    if (!local_) throw Error("sharded index", "no local index");
    agree_on_values(comm_, "sharded index", {std::uint64_t(local_->bits())},
                    "the code length (every shard must be encoded by one model)");
    std::uint64_t counts[2] = {std::uint64_t(local_->size()), 0};
    comm_.allreduce_sum(counts, 1);
    total_ = idx_t(counts[0]);
  }

  std::string kind() const override { return "sharded-" + local_->kind(); }
  int bits() const override { return local_->bits(); }
  idx_t size() const override { return total_; }
  void reset() override {
    local_->reset();
    total_ = 0;
  }

  std::vector<idx_t> ids() const override {
    const std::vector<idx_t> mine = local_->ids();
    std::vector<std::uint8_t> bytes;
    detail::append_pod(bytes, mine.data(), mine.size());
    std::vector<idx_t> all;
    for (const auto& part : comm_.allgather(bytes)) {
      std::size_t at = 0;
      const std::size_t n = part.size() / sizeof(idx_t);
      const idx_t* p = detail::take_pod<idx_t>(part, at, n);
      all.insert(all.end(), p, p + n);
    }
    std::sort(all.begin(), all.end());
    return all;
  }
  bool contains(idx_t id) const override {
    std::uint64_t found = local_->contains(id) ? 1 : 0;
    comm_.allreduce_max(&found, 1);
    return found != 0;
  }
  // The rank holding the id contributes its code, the others zeros: a sum is the code.
  void reconstruct(idx_t id, std::uint64_t* out) const override {
    const std::size_t words = std::size_t(words_per_code());
    std::vector<std::uint64_t> code(words + 1, 0);
    if (local_->contains(id)) {
      local_->reconstruct(id, code.data());
      code[words] = 1;
    }
    comm_.allreduce_sum(code.data(), code.size());
    if (code[words] != 1) throw Error("sharded index: reconstruct", "id " + std::to_string(id) + " is not in the index");
    std::copy(code.begin(), code.begin() + std::ptrdiff_t(words), out);
  }
  idx_t next_id() const override {
    std::uint64_t next = std::uint64_t(local_->next_id());
    comm_.allreduce_max(&next, 1);
    return idx_t(next);
  }

  // Collective: each rank saves its shard next to `path` (path.part-r-of-N, mappable), then rank
  // 0 writes the manifest `path`; open_sharded_index reads them back at the same number of ranks.
  void save(const std::string& path) const override;
  ThreadPool& thread_pool() const override { return local_->thread_pool(); }
  std::size_t memory_bytes() const override { return local_->memory_bytes(); }

  const BinaryIndex& local() const { return *local_; }
  Communicator& communicator() const { return comm_; }

 protected:
  void add_codes(std::size_t n, const std::uint64_t* codes, const idx_t* ids) override {
    check_same_input(n, codes, ids, "add");
    // Ids first (the union's next id), then the whole batch to the least-loaded rank.
    std::vector<idx_t> given;
    if (!ids) {
      const idx_t next = next_id();
      given.resize(n);
      for (std::size_t i = 0; i < n; ++i) given[i] = next + idx_t(i);
      ids = given.data();
    }
    std::vector<std::uint64_t> sizes(std::size_t(comm_.size()), 0);
    sizes[std::size_t(comm_.rank())] = std::uint64_t(local_->size());
    comm_.allreduce_sum(sizes.data(), sizes.size());
    const int target = int(std::min_element(sizes.begin(), sizes.end()) - sizes.begin());
    // An id already on another rank would be found there too: every rank checks its own.
    std::string problem;
    for (std::size_t i = 0; i < n && problem.empty(); ++i)
      if (comm_.rank() != target && ids[i] >= 0 && local_->contains(ids[i]))
        problem = "id " + std::to_string(ids[i]) + " is already in the index";
    comm_.agree("sharded index: add", problem);
    if (comm_.rank() == target) {
      try {
        local_->add_with_ids(idx_t(n), codes, ids);
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    comm_.agree("sharded index: add", problem);
    total_ += idx_t(n);
  }
  std::size_t remove_codes(std::size_t n, const idx_t* ids) override {
    check_same_input(n, nullptr, ids, "remove_ids");
    std::uint64_t removed = std::uint64_t(local_->remove_ids(idx_t(n), ids));
    comm_.allreduce_sum(&removed, 1);
    total_ -= idx_t(removed);
    return std::size_t(removed);
  }

  void search_codes(std::size_t nq, const std::uint64_t* queries, std::size_t k, std::int32_t* distances,
                    idx_t* labels) const override {
    check_same_input(nq, queries, nullptr, "search");
    // Queries in blocks, so that the exchanged results stay small whatever nq is.
    const std::size_t block = std::max<std::size_t>(1, (std::size_t(64) << 20) / (k * 12 * std::size_t(comm_.size())));
    const std::size_t words = std::size_t(words_per_code()), ranks = std::size_t(comm_.size());
    for (std::size_t q0 = 0; q0 < nq; q0 += block) {
      const std::size_t m = std::min(block, nq - q0);
      // This rank's top k, searched straight into what it sends: the 8-byte ids, then the
      // distances, padded to a multiple of 8 bytes so that every rank's part of what is received
      // starts aligned for its ids.
      const std::size_t part = m * k * 8 + (m * k * 4 + 7) / 8 * 8;
      send_.resize(part);
      idx_t* my_labels = reinterpret_cast<idx_t*>(send_.data());
      std::int32_t* my_distances = reinterpret_cast<std::int32_t*>(send_.data() + m * k * 8);
      local_->search(idx_t(m), queries + q0 * words, idx_t(k), my_distances, my_labels);
      comm_.allgather(send_.data(), send_.size(), joined_, offsets_);
      std::vector<const std::int32_t*> rank_d(ranks);
      std::vector<const idx_t*> rank_l(ranks);
      for (std::size_t r = 0; r < ranks; ++r) {
        if (offsets_[r + 1] - offsets_[r] != part) throw Error("sharded index", "internal error: a rank's results are truncated");
        rank_l[r] = reinterpret_cast<const idx_t*>(joined_.data() + offsets_[r]);
        rank_d[r] = reinterpret_cast<const std::int32_t*>(joined_.data() + offsets_[r] + m * k * 8);
      }
      thread_pool().parallel_for(m, [&](std::size_t q) {
        // A k-way merge of the ranks' sorted lists; missing ranks (kMissingLabel) sort last.
        std::vector<std::size_t> at(ranks, 0);
        for (std::size_t out = 0; out < k; ++out) {
          std::size_t best = ranks;
          Neighbor best_hit{kMissingDistance, kMissingLabel};
          for (std::size_t r = 0; r < ranks; ++r) {
            if (at[r] == k) continue;
            const Neighbor h{rank_d[r][q * k + at[r]], rank_l[r][q * k + at[r]]};
            if (h.id == kMissingLabel) continue;
            if (best == ranks || h < best_hit) {
              best = r;
              best_hit = h;
            }
          }
          distances[(q0 + q) * k + out] = best_hit.distance;
          labels[(q0 + q) * k + out] = best_hit.id;
          if (best != ranks) ++at[best];
        }
      });
    }
  }

  RangeSearchResult range_search_codes(std::size_t nq, const std::uint64_t* queries, int radius) const override {
    check_same_input(nq, queries, nullptr, "range_search");
    const RangeSearchResult mine = local_->range_search(idx_t(nq), queries, radius);
    std::vector<std::uint8_t> bytes;
    detail::append_pod(bytes, mine.lims.data(), mine.lims.size());
    detail::append_pod(bytes, mine.labels.data(), mine.labels.size());  // 8-byte values first: all aligned
    detail::append_pod(bytes, mine.distances.data(), mine.distances.size());
    const auto all = comm_.allgather(bytes);
    std::vector<const std::size_t*> lims(all.size());
    std::vector<const std::int32_t*> dist(all.size());
    std::vector<const idx_t*> ids(all.size());
    for (std::size_t r = 0; r < all.size(); ++r) {
      std::size_t at = 0;
      lims[r] = detail::take_pod<std::size_t>(all[r], at, nq + 1);
      const std::size_t found = lims[r][nq];
      ids[r] = detail::take_pod<idx_t>(all[r], at, found);
      dist[r] = detail::take_pod<std::int32_t>(all[r], at, found);
    }
    RangeSearchResult out;
    out.lims.assign(nq + 1, 0);
    for (std::size_t q = 0; q < nq; ++q) {
      std::size_t count = 0;
      for (std::size_t r = 0; r < all.size(); ++r) count += lims[r][q + 1] - lims[r][q];
      out.lims[q + 1] = out.lims[q] + count;
    }
    out.distances.resize(out.lims[nq]);
    out.labels.resize(out.lims[nq]);
    thread_pool().parallel_for(nq, [&](std::size_t q) {
      std::vector<Neighbor> hits;
      for (std::size_t r = 0; r < all.size(); ++r)
        for (std::size_t i = lims[r][q]; i < lims[r][q + 1]; ++i) hits.push_back({dist[r][i], ids[r][i]});
      std::sort(hits.begin(), hits.end());
      for (std::size_t i = 0; i < hits.size(); ++i) {
        out.distances[out.lims[q] + i] = hits[i].distance;
        out.labels[out.lims[q] + i] = hits[i].id;
      }
    });
    return out;
  }

 private:
  // Every rank must pass the same batch: a checksum of it, compared across ranks.
  void check_same_input(std::size_t n, const std::uint64_t* codes, const idx_t* ids, const char* call) const {
    std::uint32_t crc = crc32(&n, sizeof n);
    if (codes) crc = crc32(codes, n * std::size_t(words_per_code()) * 8, crc);
    if (ids) crc = crc32(ids, n * sizeof(idx_t), crc);
    agree_on_values(comm_, std::string("sharded index: ") + call, {crc},
                    "the batch (every rank must pass the same codes and ids)");
  }

  Communicator& comm_;
  std::unique_ptr<BinaryIndex> local_;
  idx_t total_ = 0;
  // Exchange buffers, kept between searches (searches are collective, so never concurrent).
  mutable std::vector<std::uint8_t> send_, joined_;
  mutable std::vector<std::size_t> offsets_;
};

inline void ShardedIndex::save(const std::string& path) const {
  const int rank = comm_.rank(), ranks = comm_.size();
  const std::string shard = shard_path(path, rank, ranks), staged = shard + ".staged";
  std::string problem;
  try {
    local_->save(staged);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  std::vector<std::uint64_t> counts(std::size_t(ranks), 0);
  counts[std::size_t(rank)] = std::uint64_t(local_->size());
  try {
    comm_.agree("sharded index: save " + path, problem);
    comm_.allreduce_sum(counts.data(), counts.size());
    std::error_code renamed;
    std::filesystem::rename(staged, shard, renamed);
    comm_.agree("sharded index: save " + path, renamed ? shard + ": cannot rename into place: " + renamed.message() : "");
  } catch (...) {
    std::remove(staged.c_str());
    throw;
  }
  if (rank == 0) {
    ShardManifest m;
    m.holds = "index";
    m.bits = bits();
    std::uint64_t first = 0;
    for (int r = 0; r < ranks; ++r) {
      m.shards.push_back({std::filesystem::path(shard_path(path, r, ranks)).filename().string(), first, counts[std::size_t(r)]});
      first += counts[std::size_t(r)];
    }
    m.total = first;
    try {
      save_shard_manifest(m, path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  comm_.agree("sharded index: save " + path, problem);
}

// Collective: the sharded index a job of as many ranks saved to `manifest_path`, each rank's shard
// mapped from its file (io/container/index_file.hpp; checked as its pages are first used).
inline std::unique_ptr<ShardedIndex> open_sharded_index(Communicator& comm, const std::string& manifest_path,
                                                        unsigned num_threads = default_num_threads()) {
  std::unique_ptr<BinaryIndex> local;
  std::string problem;
  try {
    const ShardManifest m = load_shard_manifest(manifest_path);
    if (m.holds != "index") throw Error(manifest_path, "is a manifest of '" + m.holds + "' shards, not of an index");
    if (m.shards.size() != std::size_t(comm.size()))
      throw Error(manifest_path, "was saved by " + std::to_string(m.shards.size()) + " ranks; open it with as many (mpirun -np " +
                                     std::to_string(m.shards.size()) + "), not " + std::to_string(comm.size()));
    const ShardManifest::Shard& s = m.shards[std::size_t(comm.rank())];
    const std::string file = shard_file(manifest_path, s);
    local = map_index(file, num_threads);
    if (local->bits() != m.bits || std::uint64_t(local->size()) != s.count)
      throw Error(file, "holds " + std::to_string(local->size()) + " " + std::to_string(local->bits()) + "-bit codes, its manifest " +
                            manifest_path + " says " + std::to_string(s.count) + " " + std::to_string(m.bits) + "-bit codes");
  } catch (const std::exception& e) {
    problem = e.what();
  }
  comm.agree("open sharded index " + manifest_path, problem);
  return std::make_unique<ShardedIndex>(comm, std::move(local));
}

// Collective: this rank's part of a sharded encoded set (mpirun -np N deephash encode), whatever
// the number of shards and ranks: a contiguous run of shards, and the global id of its first item.
struct EncodedShard {
  EncodedSet set;
  idx_t first = 0;
  std::uint64_t total = 0;  // items in the whole collection
};

// `manifest_path` may also name one encoded-set file: every rank reads it and keeps its slice.
inline EncodedShard load_encoded_shard_of_rank(Communicator& comm, const std::string& manifest_path) {
  EncodedShard mine;
  std::string problem;
  try {
    if (!is_shard_manifest(manifest_path)) {
      EncodedSet whole = load_encoded_set(manifest_path);
      const auto [first, last] = slice_of(whole.codes.size(), comm.rank(), comm.size());
      mine.first = idx_t(first);
      mine.total = whole.codes.size();
      mine.set = std::move(whole);
      mine.set.codes = mine.set.codes.slice(first, last);
      mine.set.labels = std::vector<int>(mine.set.labels.begin() + std::ptrdiff_t(first),
                                         mine.set.labels.begin() + std::ptrdiff_t(last));
      mine.set.paths.clear();
      mine.set.features.resize(0, 0);
      comm.agree("load " + manifest_path, "");
      return mine;
    }
    const ShardManifest m = load_shard_manifest(manifest_path);
    if (m.holds != "codes") throw Error(manifest_path, "is a manifest of '" + m.holds + "' shards, not of encoded sets");
    const auto [first, last] = shards_of_rank(m.shards.size(), comm.rank(), comm.size());
    mine.set = load_encoded_shards(manifest_path, m, first, last);
    mine.first = idx_t(first < m.shards.size() ? m.shards[first].first : m.total);
    mine.total = m.total;
  } catch (const std::exception& e) {
    problem = e.what();
  }
  comm.agree("load " + manifest_path, problem);
  return mine;
}

// The codes of `shard` in an index of `kind` ("flat" or "mih") under their global ids, as one
// ShardedIndex over every rank's.
inline std::unique_ptr<ShardedIndex> index_encoded_shards(Communicator& comm, const EncodedShard& shard,
                                                          const std::string& kind = "flat",
                                                          unsigned num_threads = default_num_threads()) {
  std::unique_ptr<BinaryIndex> local;
  if (kind == "flat")
    local = std::make_unique<HammingIndex>(shard.set.codes.bits(), num_threads);
  else if (kind == "mih")
    local = std::make_unique<MultiIndexHashing>(shard.set.codes.bits(), 0, num_threads);
  else
    throw Error("index kind " + kind, "unknown; the kinds are flat and mih");
  std::vector<idx_t> ids(shard.set.codes.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = shard.first + idx_t(i);
  local->add_with_ids(shard.set.codes, ids);
  return std::make_unique<ShardedIndex>(comm, std::move(local));
}

}  // namespace deephash::mpi
