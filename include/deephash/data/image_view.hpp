#pragma once
// Non-owning views of 8-bit images: what transforms, resizing, PNG writing, retrieval grids and
// frontends take, so that images travel between them without being copied into new containers.
// Pixels are row-major HWC (channels interleaved, RGB or gray), one image after another in a
// batch.

#include <cstddef>
#include <cstdint>

namespace deephash {

// One image. The pixels belong to someone else and must outlive the view.
struct ImageView {
  int height = 0, width = 0, channels = 0;
  const std::uint8_t* pixels = nullptr;  // height * width * channels

  std::size_t bytes() const { return std::size_t(height) * std::size_t(width) * std::size_t(channels); }
};

// `count` same-sized images back to back.
struct ImageBatchView {
  int height = 0, width = 0, channels = 0;
  const std::uint8_t* pixels = nullptr;
  std::size_t count = 0;

  // A batch of the one image (e.g. a query encoded on its own).
  static ImageBatchView single(ImageView image) { return {image.height, image.width, image.channels, image.pixels, 1}; }

  std::size_t image_bytes() const { return std::size_t(height) * std::size_t(width) * std::size_t(channels); }
  // Image i; i < count is the caller's promise (this sits in per-image loops).
  ImageView operator[](std::size_t i) const { return {height, width, channels, pixels + i * image_bytes()}; }
  // Images [begin, end).
  ImageBatchView slice(std::size_t begin, std::size_t end) const {
    return {height, width, channels, pixels + begin * image_bytes(), end - begin};
  }
};

}  // namespace deephash
