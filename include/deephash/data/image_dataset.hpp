#pragma once
// Images in memory, the common result of every dataset reader: one contiguous buffer of
// same-sized 8-bit images, so that a batch is a pointer and a stride, plus their labels.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/image_view.hpp"

namespace deephash {

// One 8-bit image, row-major HWC (channels interleaved).
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  // height * width * channels

  std::size_t bytes() const {
    return std::size_t(height) * std::size_t(width) * std::size_t(channels);
  }

  // The pixels as a view, valid while this image lives and keeps its size. A buffer that does
  // not match the shape is refused here, so that no view can read past it.
  ImageView view() const {
    if (pixels.size() != bytes())
      throw Error("image", "the image holds " + std::to_string(pixels.size()) + " bytes, its shape " +
                               std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels) +
                               " needs " + std::to_string(bytes()));
    return {height, width, channels, pixels.data()};
  }
  // Lets an Image go wherever a view is taken (resize_image, write_png, transform_image).
  operator ImageView() const { return view(); }
};

// An owned copy of the viewed pixels.
inline Image copy_image(ImageView view) {
  return Image{view.height, view.width, view.channels, std::vector<std::uint8_t>(view.pixels, view.pixels + view.bytes())};
}

// A labelled set of same-sized 8-bit images in memory, each row-major HWC (channels interleaved,
// RGB or gray).
struct ImageDataset {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;      // size() * image_bytes()
  std::vector<int> labels;               // one per image, 0-based
  std::vector<std::string> class_names;  // label -> name
  std::vector<std::string> paths;        // source of each image when read from files/archives, else empty

  std::size_t size() const { return labels.size(); }

  std::size_t image_bytes() const {
    return std::size_t(height) * std::size_t(width) * std::size_t(channels);
  }

  // Image i; i < size() is the caller's promise (this sits in per-pixel loops).
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_bytes(); }
  ImageView view(std::size_t i) const { return {height, width, channels, image(i)}; }

  // Images [begin, end) without copying them: what frontends and the trainer read.
  ImageBatchView batch(std::size_t begin, std::size_t end) const {
    if (begin > end || end > size())
      throw Error("ImageDataset::batch", "images [" + std::to_string(begin) + ", " + std::to_string(end) +
                                             ") are out of range for a dataset of " + std::to_string(size()) + " images");
    return {height, width, channels, image(begin), end - begin};
  }
  ImageBatchView all() const { return batch(0, size()); }

  // The images at `rows`, in that order (repeats allowed), with their labels and paths.
  ImageDataset subset(const std::vector<std::size_t>& rows) const {
    ImageDataset out;
    out.height = height;
    out.width = width;
    out.channels = channels;
    out.class_names = class_names;
    const std::size_t bytes = image_bytes();
    out.pixels.resize(rows.size() * bytes);
    out.labels.reserve(rows.size());
    if (!paths.empty()) out.paths.reserve(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const std::size_t row = rows[k];
      if (row >= size())
        throw Error("ImageDataset::subset", "row " + std::to_string(row) + " (position " +
                                                std::to_string(k) + ") is out of range for a dataset of " +
                                                std::to_string(size()) + " images");
      std::copy_n(image(row), bytes, out.pixels.data() + k * bytes);
      out.labels.push_back(labels[row]);
      if (!paths.empty()) out.paths.push_back(paths[row]);
    }
    return out;
  }

  // Classes that exist: named ones, and any label beyond the names.
  int num_classes() const {
    int n = static_cast<int>(class_names.size());
    for (int label : labels) n = std::max(n, label + 1);
    return n;
  }
};

}  // namespace deephash
