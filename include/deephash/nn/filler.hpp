#pragma once
// Parameter initialisation, as Caffe's fillers define it. Fan-in of a blob shaped
// (out, in, kh, kw) is in * kh * kw; fan-out is out * kh * kw.

#include <cmath>
#include <random>

#include "deephash/nn/blob.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash::nn {

template <class Scalar>
void fill(Blob<Scalar>& blob, const FillerSpec& filler, std::mt19937_64& rng, const std::string& where) {
  const std::size_t n = blob.count();
  Scalar* p = blob.data();
  const double fan_in = blob.num_axes() > 0 && blob.shape(0) > 0 ? double(n) / blob.shape(0) : 1.0;
  const double fan_out = blob.num_axes() > 1 && blob.shape(1) > 0 ? double(n) / blob.shape(1) : 1.0;
  const double fan = filler.variance_norm == "FAN_OUT"   ? fan_out
                     : filler.variance_norm == "AVERAGE" ? (fan_in + fan_out) / 2
                                                         : fan_in;
  if (filler.type == "constant") {
    for (std::size_t i = 0; i < n; ++i) p[i] = Scalar(filler.value);
  } else if (filler.type == "gaussian") {
    std::normal_distribution<double> g(filler.mean, filler.std);
    for (std::size_t i = 0; i < n; ++i) p[i] = Scalar(g(rng));
  } else if (filler.type == "uniform") {
    std::uniform_real_distribution<double> u(filler.min, filler.max);
    for (std::size_t i = 0; i < n; ++i) p[i] = Scalar(u(rng));
  } else if (filler.type == "xavier") {
    const double a = std::sqrt(3.0 / fan);
    std::uniform_real_distribution<double> u(-a, a);
    for (std::size_t i = 0; i < n; ++i) p[i] = Scalar(u(rng));
  } else if (filler.type == "msra") {
    std::normal_distribution<double> g(0.0, std::sqrt(2.0 / fan));
    for (std::size_t i = 0; i < n; ++i) p[i] = Scalar(g(rng));
  } else {
    throw Error(where, "unknown filler type '" + filler.type + "'");
  }
}

}  // namespace deephash::nn
