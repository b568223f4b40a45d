#pragma once
// Helpers shared by the streaming-source tests and benchmarks' checks.

#include <cstdint>
#include <random>

#include "deephash/data/image_dataset.hpp"

namespace deephash::test {

// A height x width image of random bytes drawn from `seed`.
inline Image noise_image(int height, int width, int channels, int seed) {
  Image im;
  im.height = height;
  im.width = width;
  im.channels = channels;
  im.pixels.resize(im.bytes());
  std::mt19937 rng{std::uint32_t(seed)};
  for (auto& p : im.pixels) p = std::uint8_t(rng());
  return im;
}

}  // namespace deephash::test
