#pragma once
// Raw pixels as feature vectors, scaled to [0, 1]: what the unsupervised baselines (LSH, ITQ,
// Euclidean) hash or compare when no network is involved.

#include "deephash/core/matrix.hpp"
#include "deephash/data/image_dataset.hpp"

namespace deephash {

inline RowMatrixXf pixel_features(const ImageDataset& images) {
  RowMatrixXf x(Eigen::Index(images.size()), Eigen::Index(images.image_bytes()));
  const std::uint8_t* p = images.pixels.data();
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = float(p[i]) * (1.0f / 255.0f);
  return x;
}

}  // namespace deephash
