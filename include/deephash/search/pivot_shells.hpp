#pragma once
// Exact search by pivots, for the queries multi-index hashing cannot answer cheaply: those far
// from every code, whose substrings all land in the crowded buckets of the class centres.
//
// A few pivots are chosen among the most frequent codes, far apart (for a trained model's codes:
// the class centres). Every code is filed under its nearest pivot p, in the shell of codes at
// distance t from p. By the triangle inequality a code in shell (p, t) lies at least |D_p - t|
// from a query at distance D_p from p. A search visits shells in order of that lower bound and
// stops once the bound exceeds the k-th distance found (or the radius): the dense inner shells of
// every class a far query is not near are never read, nor, of the class it is near, the shells
// much nearer the centre than the query is.
//
// Codes here are distinct codes (what multi-index hashing's tables hold), each counted with its
// number of repeats; results are (distance, distinct code) pairs, complete up to the bound, and
// multi-index hashing turns them into positions. A search gives up past a budget of codes read,
// so that a query no pivot helps (uniform codes) is scanned at little extra cost.
//
// Memory: per distinct code, 4 bytes of index and its words again (the shells store their codes in
// the scan's blocked layout, each shell starting a block, so that a shell is read by the same SIMD
// kernel as the flat index); per pivot, its words and bits + 2 block starts.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/stored_array.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/search/code_blocks.hpp"
#include "deephash/search/hamming_scan.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

template <class Backend>
class PivotShells {
 public:
  static constexpr std::size_t kMaxPivots = 32;
  static constexpr std::uint32_t kPadding = ~std::uint32_t(0);  // members_ of the blocks' padding

  // Files n distinct codes (row-major, `words` each; code c repeats repeats(c) times, a
  // callable) under up to kMaxPivots pivots at least bits / 4 apart, picked among the most
  // repeated codes.
  template <class Repeats>
  void build(const std::uint64_t* codes, std::size_t n, int bits, Repeats&& repeats, ThreadPool& pool) {
    bits_ = bits;
    words_ = std::size_t(words_for_bits(bits));
    std::vector<std::uint64_t> pivots;
    const auto chosen = [&](std::size_t p) { return pivots.data() + p * words_; };
    std::vector<std::uint32_t> by_repeats(n);
    for (std::size_t c = 0; c < n; ++c) by_repeats[c] = std::uint32_t(c);
    const std::size_t candidates = std::min<std::size_t>(n, 4096);
    std::partial_sort(by_repeats.begin(), by_repeats.begin() + std::ptrdiff_t(candidates), by_repeats.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return repeats(a) != repeats(b) ? repeats(a) > repeats(b) : a < b; });
    for (std::size_t i = 0; i < candidates && pivots.size() / words_ < kMaxPivots; ++i) {
      const std::uint64_t* candidate = codes + std::size_t(by_repeats[i]) * words_;
      bool far = true;
      for (std::size_t p = 0; p < pivots.size() / words_ && far; ++p) far = distance(chosen(p), candidate) >= std::max(1, bits / 4);
      if (far) pivots.insert(pivots.end(), candidate, candidate + words_);
    }
    pivots_ = std::move(pivots);

    // Each code's shell: nearest pivot (the first on ties), distance to it.
    const std::size_t shells = num_pivots() * shell_stride();
    std::vector<std::uint32_t> shell(n);
    pool.parallel_for(n, [&](std::size_t c) {
      const std::uint64_t* code = codes + c * words_;
      int best = bits + 1;
      std::size_t nearest = 0;
      for (std::size_t p = 0; p < num_pivots(); ++p) {
        const int d = distance(pivot(p), code);
        if (d < best) best = d, nearest = p;
      }
      shell[c] = std::uint32_t(nearest * shell_stride() + std::size_t(best));
    });
    // Counting sort by shell, each shell padded to whole blocks.
    std::vector<std::size_t> count(shells, 0);
    for (std::size_t c = 0; c < n; ++c) ++count[shell[c]];
    std::vector<std::uint32_t> block_starts(shells + 1, 0);
    for (std::size_t s = 0; s < shells; ++s)
      block_starts[s + 1] = block_starts[s] + std::uint32_t((count[s] + kBlockCodes - 1) / kBlockCodes);
    const std::size_t positions = std::size_t(block_starts[shells]) * kBlockCodes;
    std::vector<std::uint32_t> members(positions, kPadding);
    std::vector<std::uint64_t> rows(positions * words_, 0);
    std::vector<std::size_t> next(shells);
    for (std::size_t s = 0; s < shells; ++s) next[s] = std::size_t(block_starts[s]) * kBlockCodes;
    for (std::size_t c = 0; c < n; ++c) {
      const std::size_t at = next[shell[c]]++;
      members[at] = std::uint32_t(c);
      std::copy(codes + c * words_, codes + (c + 1) * words_, rows.begin() + std::ptrdiff_t(at * words_));
    }
    block_starts_ = std::move(block_starts);
    members_ = std::move(members);
    blocks_ = CodeBlocks(bits);
    blocks_.append(rows.data(), positions);
  }

  // What a file stores of the shells (multi-index hashing's sections "pivots", "shell starts",
  // "shell members", "shell codes"), and the shells over those arrays again (`blocks` a view of
  // the codes, or built), for `bits`-bit codes. The pivots and shell starts (a few KB) are
  // checked whole here: false if they do not describe shells over `blocks`.
  const StoredArray<std::uint64_t>& pivots() const { return pivots_; }
  const StoredArray<std::uint32_t>& block_starts() const { return block_starts_; }
  const StoredArray<std::uint32_t>& members() const { return members_; }
  const CodeBlocks& blocks() const { return blocks_; }
  bool adopt(int bits, StoredArray<std::uint64_t> pivots, StoredArray<std::uint32_t> block_starts,
             StoredArray<std::uint32_t> members, CodeBlocks blocks) {
    bits_ = bits;
    words_ = std::size_t(words_for_bits(bits));
    pivots.check_all();
    block_starts.check_all();
    const std::size_t n_pivots = pivots.size() / words_;
    const bool none = pivots.empty() && block_starts.empty() && members.empty() && blocks.size() == 0;  // never built
    if (!none && (pivots.size() % words_ != 0 || n_pivots > kMaxPivots || block_starts.size() != n_pivots * shell_stride() + 1 ||
        block_starts[0] != 0 || members.size() != blocks.num_blocks() * kBlockCodes ||
        blocks.size() != members.size()))
      return false;
    for (std::size_t s = 1; s < block_starts.size(); ++s)
      if (block_starts[s] < block_starts[s - 1]) return false;
    if (!none && block_starts[block_starts.size() - 1] != blocks.num_blocks()) return false;
    pivots_ = std::move(pivots);
    block_starts_ = std::move(block_starts);
    members_ = std::move(members);
    blocks_ = std::move(blocks);
    return true;
  }

  bool empty() const { return pivots_.empty(); }

  // The distinct codes of the k nearest (counting repeats, so possibly more codes than k): every
  // code at distance <= the k-th distance, appended to `found` as (distance, code). False, with
  // `found` unspecified, when that would read more than `budget` codes.
  template <class Repeats>
  bool knn(const std::uint64_t* query, std::size_t k, double budget, Repeats&& repeats, std::vector<Neighbor>& found) const {
    return search(query, bits_, budget, found, [&](int bound, std::vector<std::size_t>& at_distance) {
      // The k-th distance so far: the least d with at least k codes at or below it.
      std::size_t below = 0;
      for (int d = 0; d <= bound; ++d)
        if ((below += at_distance[std::size_t(d)]) >= k) return d;
      return bound;
    }, repeats);
  }

  // Every distinct code within `radius`, as (distance, code). False past the budget.
  bool within(const std::uint64_t* query, int radius, double budget, std::vector<Neighbor>& found) const {
    return search(query, radius, budget, found, [](int bound, std::vector<std::size_t>&) { return bound; },
                  [](std::uint32_t) { return std::size_t(1); });
  }

  std::size_t memory_bytes() const {
    return pivots_.memory_bytes() + blocks_.memory_bytes() + block_starts_.memory_bytes() + members_.memory_bytes();
  }

 private:
  std::size_t num_pivots() const { return words_ == 0 ? 0 : pivots_.size() / words_; }
  std::size_t shell_stride() const { return std::size_t(bits_) + 1; }
  const std::uint64_t* pivot(std::size_t p) const { return pivots_.data() + p * words_; }
  int distance(const std::uint64_t* a, const std::uint64_t* b) const {
    int d = 0;
    for (std::size_t w = 0; w < words_; ++w) d += __builtin_popcountll(a[w] ^ b[w]);
    return d;
  }


  // What the scan kernel feeds with the codes of a shell within the bound: found codes, and the
  // bound tightened by update(bound, at_distance) after each.
  template <class Update, class Repeats>
  struct Sink {
    const StoredArray<std::uint32_t>& members;
    std::vector<Neighbor>& found;
    std::vector<std::size_t>& at_distance;
    Update& update;
    Repeats& repeats;
    int limit;  // codes at distance <= limit are wanted

    int bound() const { return limit + 1; }
    void add(idx_t position, int distance) {
      const std::uint32_t member = members.at(std::size_t(position));
      if (member == kPadding) return;
      found.push_back({distance, idx_t(member)});
      at_distance[std::size_t(distance)] += repeats(member);
      limit = update(limit, at_distance);
    }
  };

  // Visits shells by their lower bound while it is <= the bound; update(bound, at_distance)
  // tightens the bound as codes are found.
  template <class Update, class Repeats>
  bool search(const std::uint64_t* query, int bound, double budget, std::vector<Neighbor>& found, Update&& update,
              Repeats&& repeats) const {
    found.clear();
    const std::size_t stride = shell_stride();
    // Shells grouped by lower bound: by_bound[lb] lists the shells whose codes lie >= lb away.
    std::vector<std::vector<std::uint32_t>> by_bound(std::size_t(bits_) + 1);
    for (std::size_t p = 0; p < num_pivots(); ++p) {
      const int to_pivot = distance(pivot(p), query);
      for (std::size_t t = 0; t < stride; ++t) {
        const std::size_t s = p * stride + t;
        if (block_starts_[s] == block_starts_[s + 1]) continue;
        const int lower = std::abs(to_pivot - int(t));
        if (lower <= bound) by_bound[std::size_t(lower)].push_back(std::uint32_t(s));
      }
    }
    const auto codes_in = [&](std::uint32_t s) { return double(block_starts_[s + 1] - block_starts_[s]) * kBlockCodes; };
    // Shells at lower bound 0 and 1 are read whatever the neighbours' distance (unless it is 0):
    // when they alone exceed the budget (codes spread evenly, which no pivot separates), give up
    // before reading anything.
    double nearest_shells = 0;
    for (int lower = 0; lower <= std::min(bound, 1); ++lower)
      for (std::uint32_t s : by_bound[std::size_t(lower)]) nearest_shells += codes_in(s);
    if (nearest_shells > budget) return false;

    std::vector<std::size_t> at_distance(std::size_t(bits_) + 1, 0);  // codes found, repeats included
    Sink<Update, Repeats> sink{members_, found, at_distance, update, repeats, bound};
    return dispatch_words(int(words_), [&](auto w) {
      constexpr int W = decltype(w)::value;
      std::size_t prune_at = 4096;
      for (int lower = 0; lower <= sink.limit; ++lower)
        for (std::uint32_t s : by_bound[std::size_t(lower)]) {
          if (lower > sink.limit) break;
          if ((budget -= codes_in(s)) < 0) return false;
          blocks_.check(block_starts_[s], block_starts_[s + 1]);  // a view of a mapped file: its checksums
          scan_blocks<W, Backend>(blocks_, block_starts_[s], block_starts_[s + 1], query, sink);
          if (found.size() > prune_at) {  // drop what the bound has passed
            found.erase(std::remove_if(found.begin(), found.end(), [&](const Neighbor& x) { return x.distance > sink.limit; }),
                        found.end());
            prune_at = std::max(prune_at, 2 * found.size());
          }
        }
      return true;
    });
  }

  int bits_ = 0;
  std::size_t words_ = 0;
  StoredArray<std::uint64_t> pivots_;        // row-major
  StoredArray<std::uint32_t> block_starts_;  // shell (p, t) = p * (bits + 1) + t: blocks [starts[s], starts[s + 1])
  StoredArray<std::uint32_t> members_;       // per position of blocks_: its distinct code, or kPadding
  CodeBlocks blocks_;                      // the distinct codes, shell by shell
};

}  // namespace deephash
