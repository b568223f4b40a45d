#pragma once
// Result collectors fed by the Hamming scan, which visits database ids in increasing order and
// offers only codes whose distance is below the collector's bound().
//
// TopKCollector keeps the k best codes by (distance, id) without a heap. Distances are small
// integers (0 .. bits), so it keeps a histogram of what it has accepted and lowers its bound to
// the k-th smallest distance as soon as k codes lie at or below it. Because ids only grow, a later
// code at exactly the bound loses every tie and is refused, which makes the bound strict. The
// scan compares a whole register of distances against the bound and looks at survivors only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/search/results.hpp"

namespace deephash {

struct Neighbor {
  std::int32_t distance;
  idx_t id;
  friend bool operator<(const Neighbor& a, const Neighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
  }
  friend bool operator==(const Neighbor& a, const Neighbor& b) {
    return a.distance == b.distance && a.id == b.id;
  }
};

// Orders neighbours that are in increasing id order by (distance, id): a stable counting sort by
// distance, linear in their number plus the largest distance.
inline std::vector<Neighbor> sort_by_distance(const std::vector<Neighbor>& in_id_order,
                                              int max_distance) {
  std::vector<std::size_t> start(std::size_t(max_distance) + 2, 0);
  for (const Neighbor& n : in_id_order) ++start[std::size_t(n.distance) + 1];
  for (std::size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
  std::vector<Neighbor> out(in_id_order.size());
  for (const Neighbor& n : in_id_order) out[start[std::size_t(n.distance)]++] = n;
  return out;
}

class TopKCollector {
 public:
  // k >= 1; distances lie in [0, max_distance]. A `cap` refuses every distance >= cap from the
  // start; the result is exact only if at least k codes lie below the cap (see offered()).
  TopKCollector(std::size_t k, int max_distance, int cap = std::numeric_limits<int>::max())
      : k_(k), bound_(std::min(max_distance + 1, cap)), histogram_(std::size_t(max_distance) + 2, 0),
        compact_at_(2 * k + 64) {}

  // Codes with a distance below the bound are wanted.
  int bound() const { return bound_; }

  // How many codes were added in all. With a cap, fewer than k means some of the k nearest may
  // lie at or beyond the cap.
  std::size_t offered() const { return offered_; }

  // Requires distance < bound() and id greater than every id added before.
  void add(idx_t id, int distance) {
    ++offered_;
    kept_.push_back({distance, id});
    ++histogram_[std::size_t(distance)];
    if (++below_bound_ >= k_) lower_bound();
    if (kept_.size() >= compact_at_) compact();
  }

  // The best min(k, codes offered) neighbours, ordered by (distance, id).
  std::vector<Neighbor> sorted() {
    compact();
    return sort_by_distance(kept_, int(histogram_.size()) - 2);
  }

  // Writes exactly k results; ranks past the codes offered get kMissingDistance / kMissingLabel.
  void write(std::int32_t* distances, idx_t* labels) {
    const std::vector<Neighbor> best = sorted();
    for (std::size_t r = 0; r < k_; ++r) {
      distances[r] = r < best.size() ? best[r].distance : kMissingDistance;
      labels[r] = r < best.size() ? best[r].id : kMissingLabel;
    }
  }

 private:
  // Moves the bound down to the k-th smallest accepted distance.
  void lower_bound() {
    int t = bound_ - 1;
    std::size_t at_or_below = below_bound_;  // accepted codes with distance <= t
    while (at_or_below - histogram_[std::size_t(t)] >= k_) at_or_below -= histogram_[std::size_t(t--)];
    bound_ = t;
    below_bound_ = at_or_below - histogram_[std::size_t(t)];
  }

  // Drops codes that can no longer be among the k best: those above the bound, and those at the
  // bound beyond the k - below_bound_ earliest ones.
  void compact() {
    std::size_t ties_left = k_ > below_bound_ ? k_ - below_bound_ : 0;
    std::size_t out = 0;
    for (const Neighbor& n : kept_) {
      if (n.distance < bound_ || (n.distance == bound_ && ties_left > 0)) {
        if (n.distance == bound_) --ties_left;
        kept_[out++] = n;
      }
    }
    kept_.resize(out);
    compact_at_ = std::max(compact_at_, 2 * kept_.size());
  }

  std::size_t k_;
  int bound_;
  std::size_t below_bound_ = 0;  // accepted codes with distance < bound_
  std::size_t offered_ = 0;
  std::vector<std::uint32_t> histogram_;
  std::vector<Neighbor> kept_;
  std::size_t compact_at_;
};

// Collects every code within a Hamming radius.
class RadiusCollector {
 public:
  explicit RadiusCollector(int radius) : bound_(radius + 1) {}
  int bound() const { return bound_; }
  void add(idx_t id, int distance) { found_.push_back({distance, id}); }

  // Everything found, ordered by (distance, id).
  std::vector<Neighbor> sorted() const { return sort_by_distance(found_, bound_ - 1); }

 private:
  int bound_;
  std::vector<Neighbor> found_;
};

}  // namespace deephash
