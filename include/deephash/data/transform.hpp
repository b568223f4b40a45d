#pragma once
// From stored 8-bit images to network input, Caffe's way (its TransformationParameter), plus the
// augmentation used to train: images are HWC RGB or gray; network input is CHW float.
//
//   resize (optional) -> [training: random shift by zero padding + random crop, mirror (at random
//   or alternating by epoch); test: centre crop] -> channel order (BGR for Caffe models) -> minus
//   mean -> times scale

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/image_decode.hpp"

namespace deephash {

// How training images are mirrored. `alternating` is airbench's derandomised flip (Keller Jordan,
// "94% on CIFAR-10 in 3.29 seconds", 2024): an image is mirrored in every other epoch, from a
// draw per image in the first, so every two epochs show it both ways instead of each epoch
// repeating a random half of the views. Stored as a byte; files from before it read 0 or 1.
enum class Mirror : std::uint8_t { none = 0, random = 1, alternating = 2 };

// Whether training image `item` is mirrored in `epoch` under Mirror::alternating.
inline bool alternating_flip(std::uint64_t seed, std::uint64_t item, std::uint64_t epoch) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + item + 1;  // splitmix64's finaliser: one draw per (seed, item)
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return ((z >> 63) ^ (epoch & 1)) != 0;
}

struct TransformSpec {
  int resize_height = 0, resize_width = 0;  // 0: keep the stored size
  int crop = 0;                             // square crop size; 0: no crop
  int pad = 0;                              // training: random shifts of up to `pad` pixels
  Mirror mirror = Mirror::none;             // training: horizontal flips
  bool bgr = false;                         // reverse RGB to BGR (Caffe models were trained on BGR)
  std::vector<float> mean_values;           // per output channel, in output channel order
  std::vector<float> mean_image;            // C x H x W at the resized size, output channel order
  float scale = 1;                          // applied after the mean is subtracted

  // Output size for an input of the given size.
  int output_height(int stored_height) const { return crop ? crop : (resize_height ? resize_height : stored_height); }
  int output_width(int stored_width) const { return crop ? crop : (resize_width ? resize_width : stored_width); }
};

// Writes one image as channels x out_h x out_w floats. `rng` is used only when `train` is true;
// `alternate` is the image's flip under Mirror::alternating (alternating_flip).
inline void transform_image(ImageView image, const TransformSpec& t, bool train, std::mt19937_64* rng, float* out,
                            bool alternate = false) {
  // A resize samples from the view straight into this scratch buffer; the view then points at it.
  std::vector<std::uint8_t> resized;
  if ((t.resize_height && t.resize_height != image.height) || (t.resize_width && t.resize_width != image.width)) {
    const int rh = t.resize_height ? t.resize_height : image.height, rw = t.resize_width ? t.resize_width : image.width;
    detail::resize_into(image, rh, rw, resized, "resize_image");
    image = {rh, rw, image.channels, resized.data()};
  }
  const std::uint8_t* pixels = image.pixels;
  const int height = image.height, width = image.width, channels = image.channels;
  const int oh = t.output_height(height), ow = t.output_width(width);
  if (oh > height + 2 * t.pad || ow > width + 2 * t.pad)
    throw Error("transform", "crop " + std::to_string(t.crop) + " is larger than the image (" + std::to_string(height) + "x" +
                                 std::to_string(width) + ")");
  if (!t.mean_values.empty() && t.mean_values.size() != 1 && t.mean_values.size() != std::size_t(channels))
    throw Error("transform", std::to_string(t.mean_values.size()) + " mean values for " + std::to_string(channels) + " channels");
  if (!t.mean_image.empty() && t.mean_image.size() != std::size_t(channels) * height * width)
    throw Error("transform", "the mean image has " + std::to_string(t.mean_image.size()) + " values, the images " +
                                 std::to_string(std::size_t(channels) * height * width));

  // Top-left corner of the crop in the (padded) image, and whether to mirror.
  int y0 = (height - oh) / 2, x0 = (width - ow) / 2;
  bool flip = false;
  if (train && rng) {
    std::uniform_int_distribution<int> dy(-t.pad, height - oh + t.pad), dx(-t.pad, width - ow + t.pad);
    y0 = dy(*rng);
    x0 = dx(*rng);
    flip = t.mirror == Mirror::alternating ? alternate
                                           : t.mirror == Mirror::random && std::bernoulli_distribution(0.5)(*rng);
  }
  for (int c = 0; c < channels; ++c) {
    const int src_c = t.bgr && channels == 3 ? 2 - c : c;
    const float mean = t.mean_values.empty() ? 0.0f : t.mean_values[t.mean_values.size() == 1 ? 0 : std::size_t(c)];
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) {
        const int sy = y0 + y, sx = x0 + (flip ? ow - 1 - x : x);
        // Outside the image (random shifts) reads as a black pixel.
        const bool inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
        float v = inside ? float(pixels[(std::size_t(sy) * width + sx) * channels + src_c]) : 0.0f;
        v -= mean;
        if (inside && !t.mean_image.empty()) v -= t.mean_image[(std::size_t(c) * height + sy) * width + sx];
        out[(std::size_t(c) * oh + y) * ow + x] = v * t.scale;
      }
  }
}

}  // namespace deephash
