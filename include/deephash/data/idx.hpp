#pragma once
// The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, an element
// type, the number of dimensions, then each dimension as a u32) and the elements, row-major.
// Only unsigned bytes are read: that is what image and label files hold.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/data/gzip.hpp"
#include "deephash/data/image_dataset.hpp"

namespace deephash {

// An IDX array of unsigned bytes.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> values;  // row-major, product of dims
};

namespace detail {

inline constexpr std::uint8_t kIdxUnsignedByte = 0x08;

inline std::string idx_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "16-bit integer";
    case 0x0C: return "32-bit integer";
    case 0x0D: return "32-bit float";
    case 0x0E: return "64-bit float";
    default: return "not an IDX type";
  }
}

inline std::string dims_text(const std::vector<std::size_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

}  // namespace detail

// Parses an IDX array of unsigned bytes held in memory; `source` names it in errors.
inline IdxArray parse_idx_u8(const std::uint8_t* data, std::size_t size, const std::string& source) {
  ByteReader in(data, size, source);
  const std::uint8_t* magic = in.take(4, "the IDX magic number");
  if (magic[0] != 0 || magic[1] != 0)
    throw Error(source, "not an IDX file: bad magic number (it must start with two zero bytes, "
                        "found " + detail::hex_byte(magic[0]) + " " + detail::hex_byte(magic[1]) + ")");
  const std::uint8_t type = magic[2];
  if (type != detail::kIdxUnsignedByte)
    throw Error(source, "unsupported element type " + detail::hex_byte(type) + " (" +
                            detail::idx_type_name(type) + "): only unsigned bytes (0x08) are read");
  const std::size_t ndims = magic[3];
  if (ndims == 0) throw Error(source, "an IDX array needs at least one dimension, the header has 0");

  IdxArray array;
  array.dims.reserve(ndims);
  for (std::size_t i = 0; i < ndims; ++i) array.dims.push_back(in.read_u32_be("an IDX dimension"));

  // The product is checked against the bytes present step by step, so it can neither overflow
  // nor make us allocate more than the file holds.
  const std::size_t present = in.remaining();
  std::size_t count = 1;
  for (std::size_t d : array.dims)
    if (d == 0) count = 0;
  for (std::size_t d : array.dims) {
    if (count == 0) break;
    if (count > present / d) {
      count = present + 1;  // more than present: the exact product does not matter
      break;
    }
    count *= d;
  }
  if (count > present)
    throw Error(source, "truncated: the dimensions " + detail::dims_text(array.dims) +
                            " need more data bytes than the " + std::to_string(present) +
                            " present (the file is truncated or its header is wrong)");
  if (count < present)
    throw Error(source, std::to_string(present - count) +
                            " bytes follow the data that the dimensions " +
                            detail::dims_text(array.dims) + " account for: the header is wrong");
  array.values = in.read_array<std::uint8_t>(count, "the IDX data");
  return array;
}

// Reads an IDX file of unsigned bytes, gzip-compressed or not.
inline IdxArray read_idx_u8(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_maybe_gzip(path);
  return parse_idx_u8(bytes.data(), bytes.size(), path);
}

// Images (a 3-D array: count x height x width, one channel) and their labels (a 1-D array of
// the same count) from two IDX files. class_names stays empty: the files do not name classes.
inline ImageDataset read_idx_dataset(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx_u8(images_path);
  const IdxArray labels = read_idx_u8(labels_path);
  if (images.dims.size() != 3)
    throw Error(images_path, "expected images as a 3-D array (count x height x width), found " +
                                 std::to_string(images.dims.size()) + " dimensions (" +
                                 detail::dims_text(images.dims) + ")");
  if (labels.dims.size() != 1)
    throw Error(labels_path, "expected labels as a 1-D array, found " +
                                 std::to_string(labels.dims.size()) + " dimensions (" +
                                 detail::dims_text(labels.dims) + ")");
  if (labels.dims[0] != images.dims[0])
    throw Error(labels_path, "has " + std::to_string(labels.dims[0]) + " labels but " +
                                 images_path + " has " + std::to_string(images.dims[0]) + " images");
  const std::size_t height = images.dims[1], width = images.dims[2];
  constexpr std::size_t kMaxSide = 1 << 20;  // keeps int arithmetic on sides safe
  if (height == 0 || width == 0 || height > kMaxSide || width > kMaxSide)
    throw Error(images_path, "image size " + std::to_string(height) + " x " +
                                 std::to_string(width) + " is not usable");

  ImageDataset ds;
  ds.height = static_cast<int>(height);
  ds.width = static_cast<int>(width);
  ds.channels = 1;
  ds.pixels = std::move(images.values);
  ds.labels.assign(labels.values.begin(), labels.values.end());  // bytes: always 0..255
  return ds;
}

namespace detail {

// `<dir>/<stem>` or `<dir>/<stem>.gz`, whichever exists.
inline std::string find_maybe_gzipped(const std::string& dir, const std::string& stem) {
  const std::filesystem::path plain = std::filesystem::path(dir) / stem;
  std::error_code ec;
  if (std::filesystem::is_regular_file(plain, ec)) return plain.string();
  const std::filesystem::path gz = std::filesystem::path(dir) / (stem + ".gz");
  if (std::filesystem::is_regular_file(gz, ec)) return gz.string();
  throw Error(dir, "neither " + stem + " nor " + stem + ".gz is there");
}

// The MNIST layout shared by MNIST and Fashion-MNIST: train-* and t10k-* files.
inline ImageDataset load_mnist_layout(const std::string& dir, const std::string& split,
                                      const char* function, const char* dataset,
                                      std::vector<std::string> class_names) {
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test") prefix = "t10k";
  else
    throw Error(function, "unknown split \"" + split + "\": expected \"train\" or \"test\"");
  const std::string images_path = find_maybe_gzipped(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_maybe_gzipped(dir, prefix + "-labels-idx1-ubyte");
  ImageDataset ds = read_idx_dataset(images_path, labels_path);
  for (std::size_t i = 0; i < ds.labels.size(); ++i)
    if (ds.labels[i] >= static_cast<int>(class_names.size()))
      throw Error(labels_path, "label " + std::to_string(ds.labels[i]) + " of image " +
                                   std::to_string(i) + " is out of range for the " +
                                   std::to_string(class_names.size()) + " classes of " + dataset);
  ds.class_names = std::move(class_names);
  return ds;
}

}  // namespace detail

// Fashion-MNIST from `dir`; split is "train" (60,000 images) or "test" (10,000), 28x28 gray.
inline ImageDataset load_fashion_mnist(const std::string& dir, const std::string& split) {
  return detail::load_mnist_layout(dir, split, "load_fashion_mnist", "Fashion-MNIST",
                                   {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                    "Shirt", "Sneaker", "Bag", "Ankle boot"});
}

// MNIST digits from `dir`, laid out as Fashion-MNIST.
inline ImageDataset load_mnist(const std::string& dir, const std::string& split) {
  return detail::load_mnist_layout(dir, split, "load_mnist", "MNIST",
                                   {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
}

// Where Fashion-MNIST is: $DEEPHASH_FASHION_MNIST_DIR if set, else where Debian's
// dataset-fashion-mnist package puts it.
inline std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("DEEPHASH_FASHION_MNIST_DIR");
  if (env != nullptr && *env != '\0') return env;
  return "/usr/share/datasets/fashion-mnist";
}

}  // namespace deephash
