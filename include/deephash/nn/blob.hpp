#pragma once
// A Blob holds an N-dimensional array (usually N x C x H x W, row-major, Caffe's layout) and its
// gradient. Layers read bottoms' data and write tops' data going forward; going backward they read
// tops' diff and write bottoms' diff, and add into their parameters' diff.

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "deephash/core/aligned_buffer.hpp"
#include "deephash/core/error.hpp"

namespace deephash::nn {

inline std::string shape_text(const std::vector<int>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
  return s + ")";
}

template <class Scalar>
class Blob {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatrixMap = Eigen::Map<Matrix, Eigen::Aligned64>;
  using ConstMatrixMap = Eigen::Map<const Matrix, Eigen::Aligned64>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  Blob() = default;
  explicit Blob(std::vector<int> shape) { reshape(std::move(shape)); }

  // Changes the shape; storage grows when needed and keeps its contents otherwise.
  void reshape(std::vector<int> shape) {
    std::size_t n = 1;
    for (int d : shape) {
      if (d < 0) throw Error("Blob::reshape", "negative dimension in " + shape_text(shape));
      n *= std::size_t(d);
    }
    shape_ = std::move(shape);
    count_ = n;
    if (data_.size() < n) {
      data_.resize(n, Scalar(0));
      diff_.resize(n, Scalar(0));
    }
  }
  void reshape_like(const Blob& other) { reshape(other.shape_); }

  const std::vector<int>& shape() const { return shape_; }
  int shape(int axis) const { return shape_[std::size_t(axis < 0 ? axis + int(shape_.size()) : axis)]; }
  int num_axes() const { return int(shape_.size()); }
  std::size_t count() const { return count_; }
  // Elements from axis `from` on (e.g. count_from(1) = C * H * W).
  std::size_t count_from(int from) const {
    std::size_t n = 1;
    for (std::size_t i = std::size_t(from); i < shape_.size(); ++i) n *= std::size_t(shape_[i]);
    return n;
  }

  Scalar* data() { return data_.data(); }
  const Scalar* data() const { return data_.data(); }
  Scalar* diff() { return diff_.data(); }
  const Scalar* diff() const { return diff_.data(); }

  // The data or diff as rows x cols (rows * cols == count()).
  MatrixMap data_matrix(Eigen::Index rows, Eigen::Index cols) { return MatrixMap(data(), rows, cols); }
  ConstMatrixMap data_matrix(Eigen::Index rows, Eigen::Index cols) const { return ConstMatrixMap(data(), rows, cols); }
  MatrixMap diff_matrix(Eigen::Index rows, Eigen::Index cols) { return MatrixMap(diff(), rows, cols); }
  ConstMatrixMap diff_matrix(Eigen::Index rows, Eigen::Index cols) const { return ConstMatrixMap(diff(), rows, cols); }
  Eigen::Map<Vector> data_vector() { return Eigen::Map<Vector>(data(), Eigen::Index(count_)); }
  Eigen::Map<const Vector> data_vector() const { return Eigen::Map<const Vector>(data(), Eigen::Index(count_)); }
  Eigen::Map<Vector> diff_vector() { return Eigen::Map<Vector>(diff(), Eigen::Index(count_)); }
  Eigen::Map<const Vector> diff_vector() const { return Eigen::Map<const Vector>(diff(), Eigen::Index(count_)); }

  void zero_diff() { std::fill(diff_.begin(), diff_.begin() + std::ptrdiff_t(count_), Scalar(0)); }
  void zero_data() { std::fill(data_.begin(), data_.begin() + std::ptrdiff_t(count_), Scalar(0)); }

 private:
  std::vector<int> shape_;
  std::size_t count_ = 0;
  AlignedVector<Scalar> data_, diff_;
};

}  // namespace deephash::nn
