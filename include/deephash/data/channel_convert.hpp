#pragma once
// Converting 8-bit pixels between channel counts the way stb_image does when it decodes (gray
// replicated to RGB, RGB weighted to gray as (77 R + 150 G + 29 B) >> 8, alpha added as 255 or
// dropped), so that a raw-pixel source (IDX, CIFAR, memory) asked for other channels gives what
// an encoded file of the same pixels would.

#include <cstddef>
#include <cstdint>
#include <string>

#include "deephash/data/image_dataset.hpp"
#include "deephash/data/image_decode.hpp"

namespace deephash {

// height x width pixels of `from` channels at `pixels`, as an Image of `to` channels.
inline Image convert_channels(const std::uint8_t* pixels, int height, int width, int from, int to,
                              const std::string& source) {
  detail::check_channels(to, source);
  Image out;
  out.height = height;
  out.width = width;
  out.channels = to;
  out.pixels.resize(out.bytes());
  const std::size_t n = std::size_t(height) * std::size_t(width);
  if (from == to) {
    std::copy(pixels, pixels + n * std::size_t(to), out.pixels.begin());
    return out;
  }
  const bool from_colour = from >= 3, to_colour = to >= 3;
  const bool from_alpha = from == 2 || from == 4, to_alpha = to == 2 || to == 4;
  for (std::size_t p = 0; p < n; ++p) {
    const std::uint8_t* in = pixels + p * std::size_t(from);
    std::uint8_t* o = out.pixels.data() + p * std::size_t(to);
    std::uint8_t r = in[0], g = in[0], b = in[0];
    if (from_colour) {
      g = in[1];
      b = in[2];
    }
    if (to_colour) {
      o[0] = r;
      o[1] = g;
      o[2] = b;
    } else {
      o[0] = from_colour ? std::uint8_t((r * 77 + g * 150 + b * 29) >> 8) : r;
    }
    if (to_alpha) o[to - 1] = from_alpha ? in[from - 1] : 255;
  }
  return out;
}

}  // namespace deephash
