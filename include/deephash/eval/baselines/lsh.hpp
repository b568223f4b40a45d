#pragma once
// Locality-sensitive hashing by random projections (Charikar 2002), the weakest row of the
// paper's comparison table: bit j = sign(w_j . (x - mean)) with w_j drawn from N(0, I).

#include <Eigen/Core>
#include <cstdint>
#include <random>

#include "deephash/codes/binarize.hpp"
#include "deephash/core/matrix.hpp"
#include "deephash/core/thread_pool.hpp"

namespace deephash {

class LshHasher {
 public:
  explicit LshHasher(int bits, std::uint64_t seed = 1) : bits_(bits), seed_(seed) {
    check_code_bits(bits, "LshHasher");
  }

  int bits() const { return bits_; }
  const char* name() const { return "LSH"; }

  // Only the mean is learned; the projections are random.
  void fit(const Eigen::Ref<const RowMatrixXf>& x, ThreadPool& /*pool*/) {
    require(x.rows() > 0, "LshHasher::fit", "no training data");
    mean_ = x.colwise().mean();
    std::mt19937_64 rng(seed_);
    std::normal_distribution<float> gauss;
    projections_.resize(x.cols(), bits_);
    for (Eigen::Index i = 0; i < projections_.size(); ++i) projections_.data()[i] = gauss(rng);
  }

  BitCodes encode(const Eigen::Ref<const RowMatrixXf>& x) const {
    require(projections_.size() > 0, "LshHasher::encode", "fit() has not been called");
    require(x.cols() == projections_.rows(), "LshHasher::encode",
            "expected " + std::to_string(projections_.rows()) + " features, got " +
                std::to_string(x.cols()));
    const RowMatrixXf projected = (x.rowwise() - mean_) * projections_;
    return binarize_sign(projected);
  }

 private:
  int bits_;
  std::uint64_t seed_;
  Eigen::RowVectorXf mean_;
  Eigen::MatrixXf projections_;  // features x bits
};

}  // namespace deephash
