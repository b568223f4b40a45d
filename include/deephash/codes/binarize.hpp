#pragma once
// Turning real-valued activations into codes. The paper's latent layer ends in a sigmoid and a
// unit fires when its output is > 0.5 (as in the reference MATLAB code); networks with outputs
// in [-1, 1] (tanh, sign-based methods, LSH and ITQ projections) use the sign, > 0.

#include <Eigen/Core>
#include <cmath>
#include <cstddef>
#include <string>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

inline constexpr double kSigmoidThreshold = 0.5;

// Bit j of code i is set when activations[i * dim + j] > threshold. A NaN activation is an error
// (it would otherwise silently become a 0 bit), naming its row and column.
template <class Scalar>
BitCodes binarize(const Scalar* activations, std::size_t n, int dim,
                  Scalar threshold = Scalar(kSigmoidThreshold)) {
  check_code_bits(dim, "binarize");
  BitCodes codes(n, dim);
  for (std::size_t i = 0; i < n; ++i) {
    const Scalar* row = activations + i * std::size_t(dim);
    std::uint64_t* out = codes.code(i);
    for (int j = 0; j < dim; ++j) {
      if (std::isnan(row[j]))
        throw Error("binarize", "activation at row " + std::to_string(i) + ", column " +
                                    std::to_string(j) + " is NaN");
      out[j / 64] |= std::uint64_t(row[j] > threshold) << (j % 64);
    }
  }
  return codes;
}

// The same for an Eigen matrix with one sample per row.
template <class Derived>
BitCodes binarize(const Eigen::DenseBase<Derived>& activations,
                  typename Derived::Scalar threshold = typename Derived::Scalar(kSigmoidThreshold)) {
  using Scalar = typename Derived::Scalar;
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = activations;
  return binarize(rows.data(), std::size_t(rows.rows()), int(rows.cols()), threshold);
}

// Sign binarisation: a bit is set when the value is > 0.
template <class Derived>
BitCodes binarize_sign(const Eigen::DenseBase<Derived>& values) {
  return binarize(values, typename Derived::Scalar(0));
}

}  // namespace deephash
