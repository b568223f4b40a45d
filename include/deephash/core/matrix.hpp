#pragma once
// Float matrices with one row per image: features, activations and pixels are stored this way
// everywhere (an image's values are contiguous, as a frontend writes them and as the codes are
// laid out), so every header that passes them around names this one type.

#include <Eigen/Core>
#include <string>

#include "deephash/core/error.hpp"

namespace deephash {

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Refuses NaN and infinity, naming the first bad row: distances computed from them are meaningless.
inline void check_finite_rows(const Eigen::Ref<const RowMatrixXf>& m, const std::string& what) {
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    if (!m.row(i).allFinite())
      throw Error(what, "row " + std::to_string(i) + " contains NaN or infinity");
}

}  // namespace deephash
