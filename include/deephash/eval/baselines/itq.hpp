#pragma once
// Iterative quantization (Gong & Lazebnik, CVPR 2011): PCA to `bits` dimensions, then an
// orthogonal rotation R that minimises the quantisation loss ||B - V R||^2 by alternating
//   B = sign(V R)   and   R = S U^T, where B^T V = U Sigma S^T (SVD).
// The strongest unsupervised row of the paper's comparison table.

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <cstdint>
#include <mutex>
#include <random>

#include "deephash/codes/binarize.hpp"
#include "deephash/core/matrix.hpp"
#include "deephash/core/thread_pool.hpp"

namespace deephash {

class ItqHasher {
 public:
  explicit ItqHasher(int bits, int iterations = 50, std::uint64_t seed = 1)
      : bits_(bits), iterations_(iterations), seed_(seed) {
    check_code_bits(bits, "ItqHasher");
  }

  int bits() const { return bits_; }
  const char* name() const { return "ITQ"; }

  void fit(const Eigen::Ref<const RowMatrixXf>& x, ThreadPool& pool) {
    require(x.rows() > 1, "ItqHasher::fit", "need at least two training samples");
    require(bits_ <= x.cols(), "ItqHasher::fit",
            std::to_string(bits_) + " bits need at least as many features, got " +
                std::to_string(x.cols()));
    mean_ = x.colwise().mean();

    // Covariance, summed over row blocks in parallel (double for accuracy on 60,000 rows).
    const Eigen::Index d = x.cols();
    Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(d, d);
    std::mutex sum;
    constexpr Eigen::Index kBlock = 2048;
    const std::size_t blocks = std::size_t((x.rows() + kBlock - 1) / kBlock);
    pool.parallel_for(blocks, [&](std::size_t b) {
      const Eigen::Index r0 = Eigen::Index(b) * kBlock, nr = std::min(kBlock, x.rows() - r0);
      const Eigen::MatrixXd centred = (x.middleRows(r0, nr).rowwise() - mean_).cast<double>();
      Eigen::MatrixXd partial = Eigen::MatrixXd::Zero(d, d);
      partial.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
      std::lock_guard<std::mutex> lock(sum);
      covariance += partial;
    });
    covariance = covariance.selfadjointView<Eigen::Lower>();
    covariance /= double(x.rows() - 1);

    // Principal directions: the eigenvectors of the `bits` largest eigenvalues.
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(covariance);
    const Eigen::MatrixXd top = eigen.eigenvectors().rightCols(bits_).rowwise().reverse();
    pca_ = top.cast<float>();

    const Eigen::MatrixXf v = (x.rowwise() - mean_) * pca_;
    std::mt19937_64 rng(seed_);
    std::normal_distribution<float> gauss;
    Eigen::MatrixXf random(bits_, bits_);
    for (Eigen::Index i = 0; i < random.size(); ++i) random.data()[i] = gauss(rng);
    rotation_ = Eigen::HouseholderQR<Eigen::MatrixXf>(random).householderQ();
    for (int it = 0; it < iterations_; ++it) {
      const Eigen::MatrixXf b = (v * rotation_).unaryExpr([](float z) { return z >= 0 ? 1.0f : -1.0f; });
      Eigen::JacobiSVD<Eigen::MatrixXf> svd(b.transpose() * v, Eigen::ComputeFullU | Eigen::ComputeFullV);
      rotation_ = svd.matrixV() * svd.matrixU().transpose();
    }
  }

  BitCodes encode(const Eigen::Ref<const RowMatrixXf>& x) const {
    require(pca_.size() > 0, "ItqHasher::encode", "fit() has not been called");
    require(x.cols() == pca_.rows(), "ItqHasher::encode",
            "expected " + std::to_string(pca_.rows()) + " features, got " + std::to_string(x.cols()));
    const RowMatrixXf projected = ((x.rowwise() - mean_) * pca_) * rotation_;
    return binarize_sign(projected);
  }

  // Mean squared quantisation error ||sign(V R) - V R||^2 / n, which ITQ's iterations decrease.
  double quantization_loss(const Eigen::Ref<const RowMatrixXf>& x) const {
    const Eigen::MatrixXf vr = ((x.rowwise() - mean_) * pca_) * rotation_;
    const Eigen::MatrixXf b = vr.unaryExpr([](float z) { return z >= 0 ? 1.0f : -1.0f; });
    return double((b - vr).squaredNorm()) / double(x.rows());
  }

 private:
  int bits_;
  int iterations_;
  std::uint64_t seed_;
  Eigen::RowVectorXf mean_;
  Eigen::MatrixXf pca_;       // features x bits
  Eigen::MatrixXf rotation_;  // bits x bits
};

}  // namespace deephash
