#pragma once
// Runs batches of queries over the blocks of a CodeBlocks with the scan kernel (hamming_scan.hpp)
// and hands each query's results, as positions, to a callback: the k nearest, or everything
// within a radius, ordered by (distance, position). The flat index scans all blocks; multi-index
// hashing scans the blocks its tables do not cover yet, and the queries for which its tables
// would cost more than a scan.
//
// Threads: a batch of at least as many queries as threads is split by query; smaller batches
// split the blocks, so that a single query uses every core. Each thread streams the blocks in
// cache-sized chunks and runs all its queries over a chunk before moving on. Callbacks run on
// the pool's threads, for different queries at once.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "deephash/core/thread_pool.hpp"
#include "deephash/search/code_blocks.hpp"
#include "deephash/search/hamming_scan.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

template <class Backend>
class BlockScanner {
 public:
  // Scans blocks [first_block, codes.num_blocks()).
  BlockScanner(const CodeBlocks& codes, ThreadPool& pool, std::size_t first_block = 0)
      : codes_(codes), pool_(pool), first_block_(std::min(first_block, codes.num_blocks())) {}

  // finish(q, best): best holds the min(k, codes scanned) nearest, ordered by (distance, position).
  template <class Finish>
  void knn(std::size_t nq, const std::uint64_t* queries, std::size_t k, Finish&& finish) const {
    if (nq == 0 || k == 0) return;
    const int words = codes_.words();
    const std::vector<std::size_t> sample = sample_blocks(k);

    // With a large k, each query's scan starts from a cap on the k-th distance estimated from a
    // sample, so that far fewer codes survive the first blocks. A cap that proves too tight
    // (fewer than k codes below it) is detected and that query is searched again without one.
    std::vector<std::size_t> retry;
    std::mutex retry_mutex;
    run_batch(
        nq,
        [&](std::size_t q) {
          return TopKCollector(k, codes_.bits(), estimate_cap(queries + q * std::size_t(words), k, sample));
        },
        [&](std::size_t q, std::vector<TopKCollector>& parts) {
          std::size_t offered = 0;
          for (const auto& p : parts) offered += p.offered();
          if (offered < k && parts[0].bound() <= codes_.bits()) {
            std::lock_guard<std::mutex> lock(retry_mutex);
            retry.push_back(q);
            return;
          }
          finish(q, merge_sorted(parts, k));
        },
        queries);
    if (retry.empty()) return;

    std::vector<std::uint64_t> again(retry.size() * std::size_t(words));
    for (std::size_t i = 0; i < retry.size(); ++i)
      std::copy(queries + retry[i] * std::size_t(words), queries + (retry[i] + 1) * std::size_t(words),
                again.begin() + std::ptrdiff_t(i * std::size_t(words)));
    run_batch(
        retry.size(), [&](std::size_t) { return TopKCollector(k, codes_.bits()); },
        [&](std::size_t i, std::vector<TopKCollector>& parts) { finish(retry[i], merge_sorted(parts, k)); },
        again.data());
  }

  // finish(q, found): every scanned code within `radius`, ordered by (distance, position).
  template <class Finish>
  void within(std::size_t nq, const std::uint64_t* queries, int radius, Finish&& finish) const {
    const int r = std::min(radius, codes_.bits());
    run_batch(nq, [&](std::size_t) { return RadiusCollector(r); },
              [&](std::size_t q, std::vector<RadiusCollector>& parts) {
                // Parts cover consecutive position ranges, each ordered by (distance, position).
                std::vector<Neighbor> all;
                for (auto& p : parts) {
                  std::vector<Neighbor> s = p.sorted();
                  const auto mid = all.size();
                  all.insert(all.end(), s.begin(), s.end());
                  std::inplace_merge(all.begin(), all.begin() + std::ptrdiff_t(mid), all.end());
                }
                finish(q, all);
              },
              queries);
  }

 private:
  // Blocks per cache chunk: about 32 KiB of codes, so a chunk stays in L1 while every query of a
  // thread's share runs over it.
  std::size_t blocks_per_chunk() const {
    return std::max<std::size_t>(1, (32 * 1024) / (codes_.words_per_block() * sizeof(std::uint64_t)));
  }

  // Runs every query over the blocks with collectors made by make(q). A query's collectors cover
  // consecutive ranges in order (one range unless the blocks are split); finish(q, collectors)
  // turns them into results. Queries go in rounds of kQueriesPerRound so that the collectors'
  // memory stays bounded for any number of queries.
  template <class Make, class Finish>
  void run_batch(std::size_t nq, Make&& make, Finish&& finish, const std::uint64_t* queries) const {
    constexpr std::size_t kQueriesPerRound = 1024;
    using Collector = decltype(make(std::size_t(0)));
    const int words = codes_.words();
    const std::size_t threads = pool_.num_threads();
    const std::size_t first = first_block_, blocks = codes_.num_blocks() - first_block_;
    const std::size_t chunk = blocks_per_chunk();

    for (std::size_t round = 0; round < nq; round += kQueriesPerRound) {
      const std::size_t n = std::min(kQueriesPerRound, nq - round);
      // Split the blocks when there are fewer queries than threads and enough blocks to share.
      const std::size_t db_parts =
          n < threads ? std::max<std::size_t>(1, std::min(threads, blocks / 64)) : 1;
      const std::size_t query_parts = db_parts > 1 ? 1 : std::min(n, threads * 4);

      std::vector<std::vector<Collector>> collectors(n);
      pool_.parallel_for(n, [&](std::size_t q) {
        collectors[q].push_back(make(round + q));
        collectors[q].resize(db_parts, collectors[q][0]);
      });

      dispatch_words(words, [&](auto w) {
        constexpr int W = decltype(w)::value;
        pool_.parallel_for(query_parts * db_parts, [&](std::size_t task) {
          const std::size_t qp = task / db_parts, dp = task % db_parts;
          const std::size_t q0 = n * qp / query_parts, q1 = n * (qp + 1) / query_parts;
          const std::size_t b0 = first + blocks * dp / db_parts, b1 = first + blocks * (dp + 1) / db_parts;
          constexpr int G = queries_per_pass<W, Backend>();
          for (std::size_t c0 = b0; c0 < b1; c0 += chunk) {
            const std::size_t c1 = std::min(b1, c0 + chunk);
            codes_.check(c0, c1);  // codes from a mapped file: their checksums, on first use
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
      pool_.parallel_for(n, [&](std::size_t q) { finish(round + q, collectors[q]); });
    }
  }

  // Blocks spread evenly over the codes, about 8 N / k codes in all, so that some 16 sampled
  // codes lie nearer than the cap. None when the cap would not pay for the sample: without one,
  // about k ln(N / k) codes survive the scan, each costing a mispredicted branch (~20 ns); the
  // sample costs about 1 ns a code. Only a scan of every block samples.
  std::vector<std::size_t> sample_blocks(std::size_t k) const {
    const double n = double(codes_.size());
    std::vector<std::size_t> blocks;
    if (first_block_ != 0 || k == 0 || double(k) >= n / 4) return blocks;
    const double sample_codes = std::max(1024.0, 8 * n / double(k));
    const double survivors_saved = double(k) * std::log(n / double(k)) - 2.0 * double(k);
    if (sample_codes > n / 4 || 20 * survivors_saved < sample_codes) return blocks;
    const std::size_t full_blocks = codes_.size() / kBlockCodes;  // never the partial last block
    const std::size_t count = std::min(full_blocks, std::size_t(sample_codes) / kBlockCodes);
    for (std::size_t i = 0; i < count; ++i) {
      blocks.push_back(i * full_blocks / count);
      codes_.check(blocks.back(), blocks.back() + 1);
    }
    return blocks;
  }

  // A distance cap that at least k codes probably lie below: the smallest t such that the
  // sample, scaled to all codes, holds 2k codes at distance < t.
  int estimate_cap(const std::uint64_t* query, std::size_t k, const std::vector<std::size_t>& sample) const {
    const int bits = codes_.bits();
    if (sample.empty()) return bits + 1;
    std::vector<std::uint32_t> histogram(std::size_t(bits) + 1, 0);
    add_distance_histogram<Backend>(codes_, sample.data(), sample.size(), query, histogram.data());
    const double scale = double(codes_.size()) / double(sample.size() * kBlockCodes);
    double below = 0;
    for (int t = 0; t <= bits; ++t) {
      if (below * scale >= 2.0 * double(k)) return t;
      below += histogram[std::size_t(t)];
    }
    return bits + 1;
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

  const CodeBlocks& codes_;
  ThreadPool& pool_;
  std::size_t first_block_;
};

}  // namespace deephash
