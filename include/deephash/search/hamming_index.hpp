#pragma once
// Exact Hamming search over packed binary codes, shaped like FAISS's IndexBinaryFlat: add codes,
// then search batches of queries for their k nearest codes or for every code within a radius.
//
// Results are ordered by (distance, database id), exactly as a stable sort of all distances would
// order them (the reference MATLAB evaluation relies on that tie order). A k larger than the
// database fills the ranks past its size with kMissingDistance / kMissingLabel, as FAISS does.
//
// Threads: a batch of at least as many queries as threads is split by query; smaller batches
// split the database, so that a single query uses every core. Each thread streams the database in
// cache-sized chunks and runs all its queries over a chunk before moving on.
//
// Thread safety: search and range_search are const and may run concurrently with each other; add,
// reset and set_num_threads must not run concurrently with anything else on the same index.

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
#include "deephash/search/code_blocks.hpp"
#include "deephash/search/hamming_scan.hpp"
#include "deephash/search/results.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

template <class Backend = simd::DefaultBackend>
class BasicHammingIndex {
 public:
  explicit BasicHammingIndex(int bits, unsigned num_threads = default_num_threads())
      : codes_((check_code_bits(bits, "HammingIndex"), bits)),
        pool_(std::make_shared<ThreadPool>(num_threads)) {}

  int bits() const { return codes_.bits(); }
  int words_per_code() const { return codes_.words(); }
  idx_t size() const { return idx_t(codes_.size()); }
  static const char* backend_name() { return Backend::name(); }

  unsigned num_threads() const { return pool_->num_threads(); }
  // The index's threads, for work that follows a search (reranking, evaluation).
  ThreadPool& thread_pool() const { return *pool_; }
  void set_num_threads(unsigned n) { pool_ = std::make_shared<ThreadPool>(n); }

  // Adds n row-major codes of words_per_code() words; they get ids size() .. size() + n - 1.
  void add(idx_t n, const std::uint64_t* codes) {
    require(n >= 0, "HammingIndex::add", "negative number of codes");
    codes_.append(codes, std::size_t(n));
  }
  void add(const BitCodes& codes) {
    check_same_bits(bits(), codes.bits(), "HammingIndex::add");
    add(idx_t(codes.size()), codes.data());
  }

  void reset() { codes_.clear(); }

  // Code `id`, row-major, into out[0 .. words_per_code()).
  void reconstruct(idx_t id, std::uint64_t* out) const {
    require(id >= 0 && id < size(), "HammingIndex::reconstruct",
            "id " + std::to_string(id) + " is out of range for " + std::to_string(size()) + " codes");
    codes_.copy_code(std::size_t(id), out);
  }
  BitCodes codes() const {
    BitCodes out(codes_.size(), bits());
    for (std::size_t i = 0; i < codes_.size(); ++i) codes_.copy_code(i, out.code(i));
    return out;
  }

  // The k nearest codes of each of nq queries: distances and labels are nq x k, row-major.
  void search(idx_t nq, const std::uint64_t* queries, idx_t k, std::int32_t* distances,
              idx_t* labels) const {
    require(nq >= 0, "HammingIndex::search", "negative number of queries");
    require(k >= 0, "HammingIndex::search", "k must be >= 0, got " + std::to_string(k));
    if (nq == 0 || k == 0) return;
    const std::size_t kk = std::size_t(k);
    const int words = words_per_code();
    const std::vector<std::size_t> sample = sample_blocks(kk);

    // With a large k, each query's scan starts from a cap on the k-th distance estimated from a
    // sample, so that far fewer codes survive the first blocks. A cap that proves too tight
    // (fewer than k codes below it) is detected and that query is searched again without one.
    std::vector<std::size_t> retry;
    std::mutex retry_mutex;
    run_batch(
        std::size_t(nq),
        [&](std::size_t q) {
          return TopKCollector(kk, bits(), estimate_cap(queries + q * std::size_t(words), kk, sample));
        },
        [&](std::size_t q, std::vector<TopKCollector>& parts) {
          std::size_t offered = 0;
          for (const auto& p : parts) offered += p.offered();
          if (offered < kk && parts[0].bound() <= bits()) {
            std::lock_guard<std::mutex> lock(retry_mutex);
            retry.push_back(q);
            return;
          }
          write_knn(merge_sorted(parts, kk), kk, distances + q * kk, labels + q * kk);
        },
        queries, words);
    if (retry.empty()) return;

    std::vector<std::uint64_t> again(retry.size() * std::size_t(words));
    for (std::size_t i = 0; i < retry.size(); ++i)
      std::copy(queries + retry[i] * std::size_t(words), queries + (retry[i] + 1) * std::size_t(words),
                again.begin() + std::ptrdiff_t(i * std::size_t(words)));
    run_batch(
        retry.size(), [&](std::size_t) { return TopKCollector(kk, bits()); },
        [&](std::size_t i, std::vector<TopKCollector>& parts) {
          write_knn(merge_sorted(parts, kk), kk, distances + retry[i] * kk, labels + retry[i] * kk);
        },
        again.data(), words);
  }
  KnnResult search(const BitCodes& queries, idx_t k) const {
    check_same_bits(bits(), queries.bits(), "HammingIndex::search");
    KnnResult r;
    r.nq = idx_t(queries.size());
    r.k = k;
    require(k >= 0, "HammingIndex::search", "k must be >= 0, got " + std::to_string(k));
    r.distances.resize(std::size_t(r.nq * k));
    r.labels.resize(std::size_t(r.nq * k));
    search(r.nq, queries.data(), k, r.distances.data(), r.labels.data());
    return r;
  }

  // Every code within Hamming distance <= radius of each query, ordered by (distance, id).
  RangeSearchResult range_search(idx_t nq, const std::uint64_t* queries, int radius) const {
    require(nq >= 0, "HammingIndex::range_search", "negative number of queries");
    require(radius >= 0, "HammingIndex::range_search",
            "radius must be >= 0, got " + std::to_string(radius));
    const int r = std::min(radius, bits());
    std::vector<std::vector<Neighbor>> found(static_cast<std::size_t>(nq));
    run_batch(std::size_t(nq), [&](std::size_t) { return RadiusCollector(r); },
              [&](std::size_t q, std::vector<RadiusCollector>& parts) {
                // Parts cover consecutive id ranges, each ordered by (distance, id): merge them.
                std::vector<Neighbor> all;
                for (auto& p : parts) {
                  std::vector<Neighbor> s = p.sorted();
                  const auto mid = all.size();
                  all.insert(all.end(), s.begin(), s.end());
                  std::inplace_merge(all.begin(), all.begin() + std::ptrdiff_t(mid), all.end());
                }
                found[q] = std::move(all);
              },
              queries, words_per_code());
    RangeSearchResult result;
    result.lims.assign(std::size_t(nq) + 1, 0);
    for (std::size_t q = 0; q < found.size(); ++q) result.lims[q + 1] = result.lims[q] + found[q].size();
    result.labels.reserve(result.lims.back());
    result.distances.reserve(result.lims.back());
    for (const auto& f : found)
      for (const Neighbor& n : f) {
        result.labels.push_back(n.id);
        result.distances.push_back(n.distance);
      }
    return result;
  }
  RangeSearchResult range_search(const BitCodes& queries, int radius) const {
    check_same_bits(bits(), queries.bits(), "HammingIndex::range_search");
    return range_search(idx_t(queries.size()), queries.data(), radius);
  }

  // Streams every code of the database past each query and hands the codes whose distance is
  // below sink.bound() to sink.add(id, distance), in id order: the building block for
  // evaluations that need more than the k best (distance histograms, PR curves). One sink per
  // query, made by make_sink(q); queries are spread over the threads.
  template <class MakeSink, class Finish>
  void scan(idx_t nq, const std::uint64_t* queries, MakeSink&& make_sink, Finish&& finish) const {
    const int words = words_per_code();
    pool_->parallel_for(std::size_t(nq), [&](std::size_t q) {
      auto sink = make_sink(q);
      dispatch_words(words, [&](auto w) {
        scan_blocks<decltype(w)::value, Backend>(codes_, 0, codes_.num_blocks(), queries + q * words, sink);
      });
      finish(q, sink);
    });
  }

 private:
  // Blocks per cache chunk: about 32 KiB of codes, so a chunk stays in L1 while every query of a
  // thread's share runs over it.
  std::size_t blocks_per_chunk() const {
    return std::max<std::size_t>(1, (32 * 1024) / (codes_.words_per_block() * sizeof(std::uint64_t)));
  }

  // Runs every query over the database with collectors made by make(q). A query's collectors
  // cover consecutive id ranges in order (one range unless the database is split); finish(q,
  // collectors) turns them into results. Queries go in rounds of kQueriesPerRound so that the
  // collectors' memory stays bounded for any number of queries.
  template <class Make, class Finish>
  void run_batch(std::size_t nq, Make&& make, Finish&& finish, const std::uint64_t* queries,
                 int words) const {
    constexpr std::size_t kQueriesPerRound = 1024;
    using Collector = decltype(make(std::size_t(0)));
    const std::size_t threads = pool_->num_threads();
    const std::size_t blocks = codes_.num_blocks();
    const std::size_t chunk = blocks_per_chunk();

    for (std::size_t round = 0; round < nq; round += kQueriesPerRound) {
      const std::size_t n = std::min(kQueriesPerRound, nq - round);
      // Split the database when there are fewer queries than threads and enough blocks to share.
      const std::size_t db_parts =
          n < threads ? std::max<std::size_t>(1, std::min(threads, blocks / 64)) : 1;
      const std::size_t query_parts = db_parts > 1 ? 1 : std::min(n, threads * 4);

      std::vector<std::vector<Collector>> collectors(n);
      pool_->parallel_for(n, [&](std::size_t q) {
        collectors[q].push_back(make(round + q));
        collectors[q].resize(db_parts, collectors[q][0]);
      });

      dispatch_words(words, [&](auto w) {
        constexpr int W = decltype(w)::value;
        pool_->parallel_for(query_parts * db_parts, [&](std::size_t task) {
          const std::size_t qp = task / db_parts, dp = task % db_parts;
          const std::size_t q0 = n * qp / query_parts, q1 = n * (qp + 1) / query_parts;
          const std::size_t b0 = blocks * dp / db_parts, b1 = blocks * (dp + 1) / db_parts;
          constexpr int G = queries_per_pass<W, Backend>();
          for (std::size_t c0 = b0; c0 < b1; c0 += chunk) {
            const std::size_t c1 = std::min(b1, c0 + chunk);
            std::size_t q = q0;
            for (; q + G <= q1; q += G) {
              const std::uint64_t* group_queries[G];
              Collector* group_sinks[G];
              for (int g = 0; g < G; ++g) {
                group_queries[g] = queries + (round + q + std::size_t(g)) * std::size_t(words);
                group_sinks[g] = &collectors[q + std::size_t(g)][dp];
              }
              scan_blocks<W, G, Backend>(codes_, c0, c1, group_queries, group_sinks);
            }
            for (; q < q1; ++q)
              scan_blocks<W, Backend>(codes_, c0, c1, queries + (round + q) * std::size_t(words),
                                      collectors[q][dp]);
          }
        });
      });
      pool_->parallel_for(n, [&](std::size_t q) { finish(round + q, collectors[q]); });
    }
  }

  // Blocks spread evenly over the database, about 8 N / k codes in all, so that some 16 sampled
  // codes lie nearer than the cap. None when the cap would not pay for the sample: without one,
  // about k ln(N / k) codes survive the scan, each costing a mispredicted branch (~20 ns); the
  // sample costs about 1 ns a code.
  std::vector<std::size_t> sample_blocks(std::size_t k) const {
    const double n = double(codes_.size());
    std::vector<std::size_t> blocks;
    if (k == 0 || double(k) >= n / 4) return blocks;
    const double sample_codes = std::max(1024.0, 8 * n / double(k));
    const double survivors_saved = double(k) * std::log(n / double(k)) - 2.0 * double(k);
    if (sample_codes > n / 4 || 20 * survivors_saved < sample_codes) return blocks;
    const std::size_t full_blocks = codes_.size() / kBlockCodes;  // never the partial last block
    const std::size_t count = std::min(full_blocks, std::size_t(sample_codes) / kBlockCodes);
    for (std::size_t i = 0; i < count; ++i) blocks.push_back(i * full_blocks / count);
    return blocks;
  }

  // A distance cap that at least k codes of the whole database probably lie below: the smallest t
  // such that the sample, scaled to the database, holds 2k codes at distance < t.
  int estimate_cap(const std::uint64_t* query, std::size_t k,
                   const std::vector<std::size_t>& sample) const {
    if (sample.empty()) return bits() + 1;
    std::vector<std::uint32_t> histogram(std::size_t(bits()) + 1, 0);
    add_distance_histogram<Backend>(codes_, sample.data(), sample.size(), query, histogram.data());
    const double scale = double(codes_.size()) / double(sample.size() * kBlockCodes);
    double below = 0;
    for (int t = 0; t <= bits(); ++t) {
      if (below * scale >= 2.0 * double(k)) return t;
      below += histogram[std::size_t(t)];
    }
    return bits() + 1;
  }

  static void write_knn(const std::vector<Neighbor>& best, std::size_t k, std::int32_t* distances,
                        idx_t* labels) {
    for (std::size_t r = 0; r < k; ++r) {
      distances[r] = r < best.size() ? best[r].distance : kMissingDistance;
      labels[r] = r < best.size() ? best[r].id : kMissingLabel;
    }
  }

  static std::vector<Neighbor> merge_sorted(std::vector<TopKCollector>& parts, std::size_t k) {
    if (parts.size() == 1) return parts[0].sorted();
    std::vector<Neighbor> all;
    for (auto& p : parts) {
      std::vector<Neighbor> s = p.sorted();
      all.insert(all.end(), s.begin(), s.end());
    }
    const std::size_t keep = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + std::ptrdiff_t(keep), all.end());
    all.resize(keep);
    return all;
  }

  CodeBlocks codes_;
  std::shared_ptr<ThreadPool> pool_;
};

using HammingIndex = BasicHammingIndex<>;

}  // namespace deephash
