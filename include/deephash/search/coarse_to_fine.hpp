#pragma once
// The paper's coarse-to-fine retrieval (Lin et al. 2015, section 3.3): the Hamming index gives a
// candidate pool (the P nearest codes, or every code within a radius), and the candidates are
// re-ranked by exact Euclidean distance between float features (fc7 in the paper).

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "deephash/search/euclidean_knn.hpp"
#include "deephash/search/binary_index.hpp"

namespace deephash {

// Which database codes go on to the fine stage.
struct CandidatePool {
  idx_t nearest = 0;  // the `nearest` closest codes, when > 0
  int radius = -1;    // else every code within this Hamming radius
  static CandidatePool top(idx_t p) { return {p, -1}; }
  static CandidatePool within_radius(int r) { return {0, r}; }
};

// nq x k results ordered by Euclidean distance (ties: Hamming distance, then id). Ranks past
// the pool's size hold id -1, Hamming distance kMissingDistance and Euclidean infinity.
struct RerankedResult {
  idx_t nq = 0, k = 0;
  std::vector<idx_t> labels;
  std::vector<std::int32_t> hamming;
  std::vector<float> euclidean;
};

// database_features holds one row per id of `index` (row i belongs to id i): ids 0 .. n - 1, or
// any ids below the number of rows.
inline RerankedResult coarse_to_fine_search(const BinaryIndex& index,
                                     const Eigen::Ref<const RowMatrixXf>& database_features,
                                     const BitCodes& query_codes,
                                     const Eigen::Ref<const RowMatrixXf>& query_features,
                                     CandidatePool pool, idx_t k) {
  const std::string where = "coarse_to_fine_search";
  check_same_bits(index.bits(), query_codes.bits(), where);
  // Ids 0 .. n - 1 need exactly n rows; other ids need a row for the largest.
  const bool sequential = index.next_id() == index.size();
  require(sequential ? database_features.rows() == index.size() : database_features.rows() >= index.next_id(), where,
          "the index holds " + std::to_string(index.size()) + " codes but " + std::to_string(database_features.rows()) +
              " database feature rows were given (a row per id is needed; the largest id is " +
              std::to_string(index.next_id() - 1) + ")");
  require(query_features.rows() == idx_t(query_codes.size()), where,
          std::to_string(query_codes.size()) + " query codes but " +
              std::to_string(query_features.rows()) + " query feature rows");
  require(query_features.cols() == database_features.cols(), where,
          "feature sizes differ: database " + std::to_string(database_features.cols()) +
              ", queries " + std::to_string(query_features.cols()));
  require(k >= 0, where, "k must be >= 0, got " + std::to_string(k));
  require(pool.nearest > 0 || pool.radius >= 0, where, "the candidate pool is empty by definition");
  check_finite_rows(query_features, where + ": query features");

  const idx_t nq = idx_t(query_codes.size());
  // Coarse stage: the candidates of each query, with their Hamming distances.
  std::vector<std::size_t> lims(std::size_t(nq) + 1, 0);
  std::vector<idx_t> ids;
  std::vector<std::int32_t> hamming;
  if (pool.nearest > 0) {
    const KnnResult coarse = index.search(query_codes, pool.nearest);
    for (idx_t q = 0; q < nq; ++q) {
      for (idx_t r = 0; r < pool.nearest; ++r)
        if (coarse.label(q, r) >= 0) {
          ids.push_back(coarse.label(q, r));
          hamming.push_back(coarse.distance(q, r));
        }
      lims[std::size_t(q) + 1] = ids.size();
    }
  } else {
    RangeSearchResult coarse = index.range_search(query_codes, pool.radius);
    lims = std::move(coarse.lims);
    ids = std::move(coarse.labels);
    hamming = std::move(coarse.distances);
  }

  // Fine stage: exact distances on the candidates' features.
  RerankedResult out;
  out.nq = nq;
  out.k = k;
  out.labels.assign(std::size_t(nq * k), -1);
  out.hamming.assign(std::size_t(nq * k), kMissingDistance);
  out.euclidean.assign(std::size_t(nq * k), std::numeric_limits<float>::infinity());
  index.thread_pool().parallel_for(std::size_t(nq), [&](std::size_t q) {
    using Candidate = std::tuple<float, std::int32_t, idx_t>;
    std::vector<Candidate> c;
    c.reserve(lims[q + 1] - lims[q]);
    for (std::size_t i = lims[q]; i < lims[q + 1]; ++i) {
      const float d = (database_features.row(ids[i]) - query_features.row(Eigen::Index(q))).norm();
      if (std::isnan(d))
        throw Error(where, "database feature row " + std::to_string(ids[i]) + " contains NaN");
      c.emplace_back(d, hamming[i], ids[i]);
    }
    const std::size_t keep = std::min<std::size_t>(std::size_t(k), c.size());
    std::partial_sort(c.begin(), c.begin() + std::ptrdiff_t(keep), c.end());
    for (std::size_t r = 0; r < keep; ++r) {
      out.euclidean[q * std::size_t(k) + r] = std::get<0>(c[r]);
      out.hamming[q * std::size_t(k) + r] = std::get<1>(c[r]);
      out.labels[q * std::size_t(k) + r] = std::get<2>(c[r]);
    }
  });
  return out;
}

}  // namespace deephash
