#pragma once
// A first convolution that whitens its input patches, as in Keller Jordan's airbench: its
// filters are the eigenvectors of the covariance of the k x k patches of the training images,
// each divided by the square root of its eigenvalue (plus eps), so that the layer's outputs on
// those images are decorrelated with unit variance, and their negatives (a ReLU after the layer
// keeps both halves of every component). The network then starts from features that are already
// well conditioned; the layer is usually kept frozen.
//
// With fewer filters than twice the patch size, the components of largest variance are kept
// (the smooth ones: a 3x3 RGB patch has 27, a 32-filter layer keeps 16 and their negatives).

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash::nn {

// Filters (filters x channels x k x k, row-major as a convolution's weights) from `count`
// images of channels x height x width floats, as the network's input sees them. Every k x k
// window inside an image is a patch; the covariance is taken about zero (the input is centred by
// its transformation), in double.
inline std::vector<float> patch_whitening_filters(const float* images, std::size_t count, int channels, int height, int width,
                                                  int k, int filters, double eps = 5e-4) {
  const int dim = channels * k * k;
  if (count == 0 || k < 1 || height < k || width < k)
    throw Error("patch whitening", "needs images at least as large as the " + std::to_string(k) + "x" +
                                       std::to_string(k) + " patches");
  if (filters < 2 || filters % 2 || filters / 2 > dim)
    throw Error("patch whitening", std::to_string(filters) + " filters: an even number, at most twice the " +
                                       std::to_string(dim) + " values of a patch");
  Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(dim, dim);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> patches(dim, width - k + 1);  // one image row's patches
  std::size_t seen = 0;
  for (std::size_t n = 0; n < count; ++n) {
    const float* image = images + n * std::size_t(channels) * height * width;
    for (int y = 0; y + k <= height; ++y) {
      for (int x = 0; x + k <= width; ++x)
        for (int c = 0, d = 0; c < channels; ++c)
          for (int dy = 0; dy < k; ++dy)
            for (int dx = 0; dx < k; ++dx, ++d)
              patches(d, x) = image[(std::size_t(c) * height + std::size_t(y + dy)) * width + std::size_t(x + dx)];
      covariance.selfadjointView<Eigen::Lower>().rankUpdate(patches);
      seen += std::size_t(patches.cols());
    }
  }
  covariance = covariance.selfadjointView<Eigen::Lower>();
  covariance /= double(seen);
  if (!covariance.allFinite()) throw Error("patch whitening", "the images' patches are not finite");
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(covariance);  // eigenvalues ascending
  std::vector<float> weights(std::size_t(filters) * std::size_t(dim));
  const int kept = filters / 2;
  for (int f = 0; f < kept; ++f) {
    const int component = dim - 1 - f;  // largest variance first
    const double scale = 1 / std::sqrt(std::max(0.0, eigen.eigenvalues()(component)) + eps);
    for (int d = 0; d < dim; ++d) {
      const float v = float(eigen.eigenvectors()(d, component) * scale);
      weights[std::size_t(f) * dim + std::size_t(d)] = v;
      weights[std::size_t(f + kept) * dim + std::size_t(d)] = -v;
    }
  }
  return weights;
}

}  // namespace deephash::nn
