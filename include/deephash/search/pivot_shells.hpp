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
// Memory: per distinct code, 4 bytes of index and its words again (the shells store their codes
// contiguously, so that a shell is read as a stream); per pivot, its words and bits + 2 starts.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/search/top_k.hpp"

namespace deephash {

class PivotShells {
 public:
  static constexpr std::size_t kMaxPivots = 32;

  // Files n distinct codes (row-major, `words` each; code c repeats repeats(c) times, a
  // callable) under up to kMaxPivots pivots at least bits / 4 apart, picked among the most
  // repeated codes.
  template <class Repeats>
  void build(const std::uint64_t* codes, std::size_t n, int bits, Repeats&& repeats, ThreadPool& pool) {
    bits_ = bits;
    words_ = std::size_t(words_for_bits(bits));
    pivots_.clear();
    std::vector<std::uint32_t> by_repeats(n);
    for (std::size_t c = 0; c < n; ++c) by_repeats[c] = std::uint32_t(c);
    const std::size_t candidates = std::min<std::size_t>(n, 4096);
    std::partial_sort(by_repeats.begin(), by_repeats.begin() + std::ptrdiff_t(candidates), by_repeats.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return repeats(a) != repeats(b) ? repeats(a) > repeats(b) : a < b; });
    for (std::size_t i = 0; i < candidates && num_pivots() < kMaxPivots; ++i) {
      const std::uint64_t* candidate = codes + std::size_t(by_repeats[i]) * words_;
      bool far = true;
      for (std::size_t p = 0; p < num_pivots() && far; ++p) far = distance(pivot(p), candidate) >= std::max(1, bits / 4);
      if (far) pivots_.insert(pivots_.end(), candidate, candidate + words_);
    }

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
    starts_.assign(shells + 1, 0);
    for (std::size_t c = 0; c < n; ++c) ++starts_[shell[c] + 1];
    for (std::size_t s = 1; s <= shells; ++s) starts_[s] += starts_[s - 1];
    members_.resize(n);
    member_codes_.resize(n * words_);
    std::vector<std::uint32_t> next(starts_.begin(), starts_.end() - 1);
    for (std::size_t c = 0; c < n; ++c) {
      const std::uint32_t at = next[shell[c]]++;
      members_[at] = std::uint32_t(c);
      std::copy(codes + c * words_, codes + (c + 1) * words_, member_codes_.begin() + std::ptrdiff_t(std::size_t(at) * words_));
    }
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
    return (pivots_.capacity() + member_codes_.capacity()) * sizeof(std::uint64_t) +
           (starts_.capacity() + members_.capacity()) * sizeof(std::uint32_t);
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

  static constexpr std::size_t kSlice = 256;

  // Distances from `query` to member codes [from, from + count).
  void distances(std::size_t from, std::size_t count, const std::uint64_t* query, std::int32_t* out) const {
    const std::uint64_t* code = member_codes_.data() + from * words_;
    if (words_ == 1) {
      const std::uint64_t q = query[0];
      for (std::size_t i = 0; i < count; ++i) out[i] = std::int32_t(__builtin_popcountll(code[i] ^ q));
      return;
    }
    for (std::size_t i = 0; i < count; ++i) out[i] = distance(code + i * words_, query);
  }

  // Visits shells by their lower bound while it is <= the bound; update(bound, at_distance)
  // tightens the bound after each shell.
  template <class Update, class Repeats>
  bool search(const std::uint64_t* query, int bound, double budget, std::vector<Neighbor>& found, Update&& update,
              Repeats&& repeats) const {
    found.clear();
    const std::size_t stride = shell_stride();
    // Shells grouped by lower bound: order[lb] lists the shells whose codes lie >= lb away.
    std::vector<std::vector<std::uint32_t>> by_bound(std::size_t(bits_) + 1);
    for (std::size_t p = 0; p < num_pivots(); ++p) {
      const int to_pivot = distance(pivot(p), query);
      for (std::size_t t = 0; t < stride; ++t) {
        const std::size_t s = p * stride + t;
        if (starts_[s] == starts_[s + 1]) continue;
        const int lower = std::abs(to_pivot - int(t));
        if (lower <= bound) by_bound[std::size_t(lower)].push_back(std::uint32_t(s));
      }
    }
    // Shells at lower bound 0 and 1 are read whatever the neighbours' distance (unless it is 0):
    // when they alone exceed the budget (codes spread evenly, which no pivot separates), give up
    // before reading anything.
    double nearest_shells = 0;
    for (int lower = 0; lower <= std::min(bound, 1); ++lower)
      for (std::uint32_t s : by_bound[std::size_t(lower)]) nearest_shells += double(starts_[s + 1] - starts_[s]);
    if (nearest_shells > budget) return false;

    std::vector<std::size_t> at_distance(std::size_t(bits_) + 1, 0);  // codes found, repeats included
    std::size_t prune_at = 4096;
    std::int32_t slice[kSlice];
    for (int lower = 0; lower <= bound; ++lower)
      for (std::uint32_t s : by_bound[std::size_t(lower)]) {
        const std::size_t first = starts_[s], last = starts_[s + 1];
        if ((budget -= double(last - first)) < 0) return false;
        // Distances a slice at a time in a loop free of branches (which the compiler vectorises),
        // then the few within the bound.
        for (std::size_t from = first; from < last; from += kSlice) {
          const std::size_t count = std::min(kSlice, last - from);
          distances(from, count, query, slice);
          for (std::size_t i = 0; i < count; ++i) {
            if (slice[i] > bound) continue;
            found.push_back({slice[i], idx_t(members_[from + i])});
            at_distance[std::size_t(slice[i])] += repeats(members_[from + i]);
          }
        }
        bound = update(bound, at_distance);
        if (found.size() > prune_at) {  // drop what the bound has passed
          found.erase(std::remove_if(found.begin(), found.end(), [&](const Neighbor& n) { return n.distance > bound; }),
                      found.end());
          prune_at = std::max(prune_at, 2 * found.size());
        }
      }
    return true;
  }

  int bits_ = 0;
  std::size_t words_ = 0;
  std::vector<std::uint64_t> pivots_;        // row-major
  std::vector<std::uint32_t> starts_;        // shell (p, t) = p * (bits + 1) + t: members [starts[s], starts[s + 1])
  std::vector<std::uint32_t> members_;       // distinct codes, by shell
  std::vector<std::uint64_t> member_codes_;  // their codes, in the same order
};

}  // namespace deephash
