#pragma once
// Decoding, resizing and writing single images, through stb_image (JPEG, PNG, BMP, GIF, TGA,
// PSD, HDR, PIC, PNM), stb_image_resize and stb_image_write.

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <climits>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/atomic_file.hpp"
#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/data/image_checks.hpp"
#include "deephash/data/image_dataset.hpp"

namespace deephash {

// Larger images are refused (64 Mpixels: 8192 x 8192), so that a hostile header cannot ask for
// gigabytes before any pixel data is read.
inline constexpr std::uint64_t kMaxImagePixels = std::uint64_t(1) << 26;

namespace detail {

inline void check_channels(int channels, const std::string& source) {
  if (channels < 1 || channels > 4)
    throw Error(source, "channels must be 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA), not " +
                            std::to_string(channels));
}

inline void check_image(ImageView image, const std::string& source) {
  check_channels(image.channels, source);
  if (image.height <= 0 || image.width <= 0)
    throw Error(source, "the image is " + std::to_string(image.height) + "x" +
                            std::to_string(image.width) + ": both sides must be positive");
  if (!image.pixels) throw Error(source, "the image view has no pixels");
}

inline void check_resize(ImageView image, int height, int width, const std::string& source) {
  check_image(image, source);
  if (height <= 0 || width <= 0)
    throw Error(source, "the target size " + std::to_string(height) + "x" + std::to_string(width) + " must be positive");
}

// Resamples `image` into `out`, sized here to height x width x image.channels bytes: resize_image
// and the transformation's resize share it, the latter keeping `out` as its scratch buffer.
inline void resize_into(ImageView image, int height, int width, std::vector<std::uint8_t>& out, const std::string& source) {
  check_resize(image, height, width, source);
  out.resize(std::size_t(height) * std::size_t(width) * std::size_t(image.channels));
  if (!stbir_resize_uint8(image.pixels, image.width, image.height, 0, out.data(), width, height, 0, image.channels))
    throw Error(source, "stb_image_resize failed (out of memory?) resizing " + std::to_string(image.height) + "x" +
                            std::to_string(image.width) + " to " + std::to_string(height) + "x" + std::to_string(width));
}

struct StbImageFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

}  // namespace detail

// Decodes an encoded image held in memory to `channels` 8-bit channels (stb converts: gray
// images are replicated to RGB, RGB is weighted to gray). `source` names it in errors.
inline Image decode_image(const std::uint8_t* bytes, std::size_t size, const std::string& source,
                          int channels = 3) {
  detail::check_channels(channels, source);
  if (size == 0) throw Error(source, "cannot decode the image: the file is empty");
  if (size > std::size_t(INT_MAX)) throw Error(source, "cannot decode the image: larger than 2 GiB");
  // Only the formats deephash reads are handed to stb_image; each of stb's other loaders would
  // be more code for hostile files to reach.
  const bool png = size >= 8 && std::memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0;
  const bool jpeg = size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
  const bool bmp = size >= 2 && bytes[0] == 'B' && bytes[1] == 'M';
  if (!png && !jpeg && !bmp) throw Error(source, "cannot decode the image: not an image (deephash reads JPEG, PNG and BMP)");
  if (png) detail::check_png_chunks(bytes, size, source);
  if (jpeg) detail::check_jpeg_segments(bytes, size, source);
  int width = 0, height = 0, channels_in_file = 0;
  // The header's size is checked first: a few hostile bytes can claim a huge image.
  if (stbi_info_from_memory(bytes, static_cast<int>(size), &width, &height, &channels_in_file) &&
      std::uint64_t(width) * std::uint64_t(height) > kMaxImagePixels)
    throw Error(source, "the image claims to be " + std::to_string(width) + "x" + std::to_string(height) +
                            " pixels, more than the limit of " + std::to_string(kMaxImagePixels >> 20) + " Mpixels");
  std::unique_ptr<stbi_uc, detail::StbImageFree> decoded(stbi_load_from_memory(
      bytes, static_cast<int>(size), &width, &height, &channels_in_file, channels));
  if (!decoded) {
    const char* why = stbi_failure_reason();  // thread-local in stb
    throw Error(source, std::string("cannot decode the image (") + (why ? why : "unknown reason") +
                            "): not an image, or a corrupt one");
  }
  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.assign(decoded.get(), decoded.get() + image.bytes());
  return image;
}

// Reads and decodes an image file.
inline Image read_image(const std::string& path, int channels = 3) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

// The image resampled to height x width (stb's default filters: Catmull-Rom when enlarging,
// Mitchell when shrinking).
inline Image resize_image(ImageView image, int height, int width) {
  detail::check_resize(image, height, width, "resize_image");
  if (height == image.height && width == image.width) return copy_image(image);
  Image out{height, width, image.channels, {}};
  detail::resize_into(image, height, width, out.pixels, "resize_image");
  return out;
}

namespace detail {

inline std::vector<std::uint8_t> encode_png(ImageView image, const std::string& source) {
  check_image(image, source);
  std::vector<std::uint8_t> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  if (!stbi_write_png_to_func(append, &png, image.width, image.height, image.channels,
                              image.pixels, image.width * image.channels))
    throw Error(source, "PNG encoding failed (out of memory?)");
  return png;
}

}  // namespace detail

// The image as PNG file bytes.
inline std::vector<std::uint8_t> encode_png(ImageView image) {
  return detail::encode_png(image, "encode_png");
}

// Writes the image as a PNG file; the old file, if any, stays intact until the new one is whole.
inline void write_png(const std::string& path, ImageView image) {
  write_file_atomically(path, detail::encode_png(image, path));
}

}  // namespace deephash
