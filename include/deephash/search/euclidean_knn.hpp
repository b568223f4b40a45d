#pragma once
// Exact Euclidean k-NN over float feature vectors by brute force: the reference for "raw
// features" baselines. Distances come from blocked matrix products, |x|^2 - 2 q.x + |q|^2, with
// Eigen running single-threaded inside each task of the pool (one level of parallelism).

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/matrix.hpp"
#include "deephash/core/thread_pool.hpp"

namespace deephash {

struct FloatKnnResult {
  idx_t nq = 0, k = 0;
  std::vector<float> distances;  // Euclidean (not squared), nq x k
  std::vector<idx_t> labels;     // nq x k; -1 past the database's size
};

// The k nearest database rows of each query row, ordered by (distance, id).
inline FloatKnnResult euclidean_knn(const Eigen::Ref<const RowMatrixXf>& database,
                                    const Eigen::Ref<const RowMatrixXf>& queries, idx_t k,
                                    ThreadPool& pool) {
  require(database.cols() == queries.cols() || database.rows() == 0, "euclidean_knn",
          "feature sizes differ: database " + std::to_string(database.cols()) + ", queries " +
              std::to_string(queries.cols()));
  require(k >= 0, "euclidean_knn", "k must be >= 0, got " + std::to_string(k));
  check_finite_rows(database, "euclidean_knn: database features");
  check_finite_rows(queries, "euclidean_knn: query features");
  FloatKnnResult r;
  r.nq = queries.rows();
  r.k = k;
  r.distances.assign(std::size_t(r.nq * k), std::numeric_limits<float>::infinity());
  r.labels.assign(std::size_t(r.nq * k), -1);
  if (k == 0 || r.nq == 0) return r;

  const Eigen::VectorXf db_norms = database.rowwise().squaredNorm();
  constexpr Eigen::Index kQueryBlock = 64, kDbBlock = 2048;
  const std::size_t query_blocks = std::size_t((r.nq + kQueryBlock - 1) / kQueryBlock);
  pool.parallel_for(query_blocks, [&](std::size_t qb) {
    const Eigen::Index q0 = Eigen::Index(qb) * kQueryBlock;
    const Eigen::Index nq = std::min<Eigen::Index>(kQueryBlock, r.nq - q0);
    const auto q = queries.middleRows(q0, nq);
    const Eigen::VectorXf q_norms = q.rowwise().squaredNorm();
    // Per query, candidates as (squared distance, id), pruned back to k now and then.
    std::vector<std::vector<std::pair<float, idx_t>>> best(static_cast<std::size_t>(nq));
    Eigen::MatrixXf dots;
    for (Eigen::Index d0 = 0; d0 < database.rows(); d0 += kDbBlock) {
      const Eigen::Index nd = std::min<Eigen::Index>(kDbBlock, database.rows() - d0);
      dots.noalias() = q * database.middleRows(d0, nd).transpose();
      for (Eigen::Index i = 0; i < nq; ++i) {
        auto& b = best[std::size_t(i)];
        for (Eigen::Index j = 0; j < nd; ++j)
          b.emplace_back(std::max(0.0f, q_norms[i] - 2 * dots(i, j) + db_norms[d0 + j]), idx_t(d0 + j));
        if (b.size() > std::size_t(4 * k + 4096)) {
          std::nth_element(b.begin(), b.begin() + k, b.end());
          b.resize(std::size_t(k));
        }
      }
    }
    for (Eigen::Index i = 0; i < nq; ++i) {
      auto& b = best[std::size_t(i)];
      const std::size_t keep = std::min<std::size_t>(std::size_t(k), b.size());
      std::partial_sort(b.begin(), b.begin() + std::ptrdiff_t(keep), b.end());
      for (std::size_t j = 0; j < keep; ++j) {
        r.distances[std::size_t((q0 + i) * k) + j] = std::sqrt(b[j].first);
        r.labels[std::size_t((q0 + i) * k) + j] = b[j].second;
      }
    }
  });
  return r;
}

}  // namespace deephash
