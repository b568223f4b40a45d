#pragma once
// What searches return, shaped like FAISS's results: k-NN results as nq x k arrays of distances
// and ids (ranks past the database hold kMissingDistance and kMissingLabel, as in FAISS), and
// radius results as concatenated lists with per-query limits.

#include <cstdint>
#include <limits>
#include <vector>

#include "deephash/codes/bit_codes.hpp"

namespace deephash {

inline constexpr std::int32_t kMissingDistance = std::numeric_limits<std::int32_t>::max();
inline constexpr idx_t kMissingLabel = -1;

// The k-NN results of a batch, row-major nq x k.
struct KnnResult {
  idx_t nq = 0, k = 0;
  std::vector<std::int32_t> distances;
  std::vector<idx_t> labels;
  std::int32_t distance(idx_t q, idx_t r) const { return distances[std::size_t(q * k + r)]; }
  idx_t label(idx_t q, idx_t r) const { return labels[std::size_t(q * k + r)]; }
};

// Everything a radius search found: the results of query i are at positions
// [lims[i], lims[i + 1]) of labels and distances.
struct RangeSearchResult {
  std::vector<std::size_t> lims;
  std::vector<idx_t> labels;
  std::vector<std::int32_t> distances;
};

}  // namespace deephash
