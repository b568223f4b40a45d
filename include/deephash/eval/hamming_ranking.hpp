#pragma once
// Retrieval quality of binary codes: every query ranks the database by Hamming distance, ties
// kept in database order (as the stable sort of the reference MATLAB evaluation does), and the
// ranking is scored against the ground truth.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "deephash/eval/ranking_metrics.hpp"
#include "deephash/eval/relevance.hpp"
#include "deephash/search/euclidean_knn.hpp"
#include "deephash/search/binary_index.hpp"

namespace deephash {

// mAP over the top k and mean precision at each cut-off of a precision@k curve.
struct RankingScores {
  idx_t k = 0;
  ApNormalization normalization = ApNormalization::RelevantRetrieved;
  double map = 0;
  std::vector<idx_t> cutoffs;            // k values of the precision curve
  std::vector<double> precision;         // mean precision@cutoff, one per cut-off
  std::vector<double> average_precision; // one per query
};

// 1, 5, 10, 20, 50, then every 100 up to `k` (the paper plots precision for k up to 1000).
inline std::vector<idx_t> default_precision_cutoffs(idx_t k) {
  std::vector<idx_t> c;
  for (idx_t v : {1, 5, 10, 20, 50})
    if (v <= k) c.push_back(v);
  for (idx_t v = 100; v <= k; v += 100) c.push_back(v);
  if (c.empty() || c.back() != k) c.push_back(k);
  return c;
}

// Scores ranked lists already computed: ids holds nq rows of `width` ids (width >= k and >= every
// cut-off), best first, -1 past the database.
template <class Relevance>
RankingScores score_rankings(const idx_t* ids, std::size_t nq, std::size_t width,
                             const Relevance& relevance, idx_t k, ApNormalization normalization,
                             const std::vector<idx_t>& cutoffs, ThreadPool& pool) {
  RankingScores s;
  s.k = k;
  s.normalization = normalization;
  s.cutoffs = cutoffs;
  s.average_precision.assign(nq, 0.0);
  std::vector<std::vector<double>> precision(nq, std::vector<double>(cutoffs.size()));
  const std::size_t depth = std::size_t(std::max(k, *std::max_element(cutoffs.begin(), cutoffs.end())));
  pool.parallel_for(nq, [&](std::size_t q) {
    const idx_t* row = ids + q * width;
    // One pass over the ranking: relevant items among the first i, for every i.
    std::vector<std::uint32_t> hits(depth + 1, 0);
    for (std::size_t i = 0; i < depth; ++i)
      hits[i + 1] = hits[i] + (row[i] >= 0 && relevance.relevant(q, row[i]));
    s.average_precision[q] = average_precision(row, std::size_t(k), q, relevance, normalization);
    for (std::size_t c = 0; c < cutoffs.size(); ++c)
      precision[q][c] = double(hits[std::size_t(cutoffs[c])]) / double(cutoffs[c]);
  });
  s.precision.assign(cutoffs.size(), 0.0);
  for (std::size_t q = 0; q < nq; ++q) {
    s.map += s.average_precision[q];
    for (std::size_t c = 0; c < cutoffs.size(); ++c) s.precision[c] += precision[q][c];
  }
  if (nq > 0) {
    s.map /= double(nq);
    for (double& p : s.precision) p /= double(nq);
  }
  return s;
}

// Ranks the database for every query by Hamming distance and scores the top k.
template <class Relevance>
RankingScores evaluate_hamming_ranking(const BinaryIndex& database,
                                       const BitCodes& queries, const Relevance& relevance, idx_t k,
                                       ApNormalization normalization = ApNormalization::RelevantRetrieved,
                                       std::vector<idx_t> cutoffs = {}) {
  const std::string where = "evaluate_hamming_ranking";
  require(k >= 1, where, "k must be >= 1, got " + std::to_string(k));
  require(relevance.num_queries() == queries.size(), where,
          std::to_string(queries.size()) + " query codes but ground truth for " +
              std::to_string(relevance.num_queries()) + " queries");
  require(relevance.database_size() == std::size_t(database.size()), where,
          "the index holds " + std::to_string(database.size()) + " codes but the ground truth covers " +
              std::to_string(relevance.database_size()) + " database items");
  if (cutoffs.empty()) cutoffs = default_precision_cutoffs(k);
  const idx_t width = std::max(k, *std::max_element(cutoffs.begin(), cutoffs.end()));
  const KnnResult ranked = database.search(queries, width);
  return score_rankings(ranked.labels.data(), queries.size(), std::size_t(width), relevance, k,
                        normalization, cutoffs, database.thread_pool());
}

// The same for a float ranking (the Euclidean reference).
template <class Relevance>
RankingScores score_float_ranking(const FloatKnnResult& ranked, const Relevance& relevance, idx_t k,
                                  ApNormalization normalization, ThreadPool& pool,
                                  std::vector<idx_t> cutoffs = {}) {
  if (cutoffs.empty()) cutoffs = default_precision_cutoffs(k);
  return score_rankings(ranked.labels.data(), std::size_t(ranked.nq), std::size_t(ranked.k),
                        relevance, k, normalization, cutoffs, pool);
}

// Runs range searches for the queries a few at a time (as many as threads: a radius of all bits
// returns the whole database per query), so that the results of all queries are never held at
// once; visit(q, ids, distances, count) sees query q's codes within `radius`, ordered by
// (distance, id).
template <class Visit>
void for_each_within(const BinaryIndex& database, const BitCodes& queries, int radius, Visit&& visit) {
  const std::size_t slice = database.thread_pool().num_threads();
  for (std::size_t first = 0; first < queries.size(); first += slice) {
    const std::size_t n = std::min(slice, queries.size() - first);
    const RangeSearchResult r = database.range_search(idx_t(n), queries.code(first), radius);
    database.thread_pool().parallel_for(n, [&](std::size_t i) {
      visit(first + i, r.labels.data() + r.lims[i], r.distances.data() + r.lims[i], r.lims[i + 1] - r.lims[i]);
    });
  }
}

// mAP over the full ranking of the database (mAP@all, normalised by all relevant items).
template <class Relevance>
double map_full_ranking(const BinaryIndex& database, const BitCodes& queries, const Relevance& relevance) {
  check_same_bits(database.bits(), queries.bits(), "map_full_ranking");
  std::vector<double> ap(queries.size(), 0.0);
  for_each_within(database, queries, database.bits(),
                  [&](std::size_t q, const idx_t* ids, const std::int32_t*, std::size_t count) {
                    ap[q] = average_precision(ids, count, q, relevance, ApNormalization::AllRelevant);
                  });
  double sum = 0;
  for (double v : ap) sum += v;
  return ap.empty() ? 0.0 : sum / double(ap.size());
}

// Hash lookup quality: for each Hamming radius r, precision and recall of the set of database
// codes within distance r, averaged over queries. A query that retrieves nothing at radius r
// counts with precision 0 (as in the usual "precision within Hamming radius 2" tables);
// `empty_fraction[r]` says how often that happened.
struct RadiusCurve {
  std::vector<double> precision, recall, empty_fraction;  // indexed by radius 0 .. max radius
};

template <class Relevance>
RadiusCurve precision_recall_by_radius(const BinaryIndex& database, const BitCodes& queries,
                                       const Relevance& relevance, int max_radius = -1) {
  check_same_bits(database.bits(), queries.bits(), "precision_recall_by_radius");
  if (max_radius < 0 || max_radius > database.bits()) max_radius = database.bits();
  const std::size_t radii = std::size_t(max_radius) + 1;
  std::vector<std::vector<double>> p(queries.size()), r(queries.size());
  std::vector<std::vector<char>> empty(queries.size());
  for_each_within(database, queries, max_radius,
                  [&](std::size_t q, const idx_t* ids, const std::int32_t* distances, std::size_t count) {
                    std::vector<std::size_t> total(radii, 0), relevant(radii, 0);
                    for (std::size_t i = 0; i < count; ++i) {
                      ++total[std::size_t(distances[i])];
                      relevant[std::size_t(distances[i])] += relevance.relevant(q, ids[i]);
                    }
                    const double all_relevant = double(relevance.total_relevant(q));
                    std::size_t found = 0, rel = 0;
                    p[q].resize(radii);
                    r[q].resize(radii);
                    empty[q].resize(radii);
                    for (std::size_t d = 0; d < radii; ++d) {
                      found += total[d];
                      rel += relevant[d];
                      p[q][d] = found ? double(rel) / double(found) : 0.0;
                      r[q][d] = all_relevant > 0 ? double(rel) / all_relevant : 0.0;
                      empty[q][d] = found == 0;
                    }
                  });
  RadiusCurve curve;
  curve.precision.assign(radii, 0.0);
  curve.recall.assign(radii, 0.0);
  curve.empty_fraction.assign(radii, 0.0);
  for (std::size_t q = 0; q < queries.size(); ++q)
    for (std::size_t d = 0; d < radii; ++d) {
      curve.precision[d] += p[q][d];
      curve.recall[d] += r[q][d];
      curve.empty_fraction[d] += empty[q][d];
    }
  if (!queries.empty())
    for (std::size_t d = 0; d < radii; ++d) {
      curve.precision[d] /= double(queries.size());
      curve.recall[d] /= double(queries.size());
      curve.empty_fraction[d] /= double(queries.size());
    }
  return curve;
}

// Precision of the codes within Hamming radius r (0 for a query that retrieves nothing).
template <class Relevance>
double precision_within_radius(const BinaryIndex& database, const BitCodes& queries,
                               const Relevance& relevance, int radius) {
  require(radius >= 0, "precision_within_radius", "radius must be >= 0");
  return precision_recall_by_radius(database, queries, relevance, radius).precision.back();
}

}  // namespace deephash
