#pragma once
// CIFAR-10 in its binary distribution: batch files of 3073-byte records, each a label byte
// (0..9) and a 32x32 RGB image stored planar (1024 red, 1024 green, 1024 blue bytes, each plane
// row-major). Images are converted to the interleaved HWC layout of ImageDataset.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/data/image_dataset.hpp"

namespace deephash {

inline constexpr int kCifar10Side = 32;
inline constexpr int kCifar10Classes = 10;
inline constexpr std::size_t kCifar10PlaneBytes = 32 * 32;
inline constexpr std::size_t kCifar10RecordBytes = 1 + 3 * kCifar10PlaneBytes;

// The class names in label order, as batches.meta.txt lists them.
inline std::vector<std::string> cifar10_class_names() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

// Parses a CIFAR-10 batch held in memory; `source` names it in errors.
inline ImageDataset parse_cifar10_batch(const std::uint8_t* data, std::size_t size,
                                        const std::string& source) {
  if (size == 0) throw Error(source, "the CIFAR-10 batch is empty");
  if (size % kCifar10RecordBytes != 0) {
    const std::size_t whole = size / kCifar10RecordBytes;
    throw Error(source, "truncated: the size " + std::to_string(size) +
                            " is not a multiple of the " + std::to_string(kCifar10RecordBytes) +
                            "-byte CIFAR-10 record; record " + std::to_string(whole) +
                            " at offset " + std::to_string(whole * kCifar10RecordBytes) +
                            " has only " + std::to_string(size % kCifar10RecordBytes) + " bytes");
  }
  const std::size_t count = size / kCifar10RecordBytes;
  ImageDataset ds;
  ds.height = ds.width = kCifar10Side;
  ds.channels = 3;
  ds.class_names = cifar10_class_names();
  ds.labels.resize(count);
  ds.pixels.resize(count * ds.image_bytes());
  ByteReader in(data, size, source);
  for (std::size_t r = 0; r < count; ++r) {
    const std::size_t offset = in.position();
    const std::uint8_t* record = in.take(kCifar10RecordBytes, "a CIFAR-10 record");
    if (record[0] >= kCifar10Classes)
      throw Error(source, "record " + std::to_string(r) + " at offset " + std::to_string(offset) +
                              ": label " + std::to_string(record[0]) +
                              " is not a CIFAR-10 class (0..9)");
    ds.labels[r] = record[0];
    const std::uint8_t* planes = record + 1;
    std::uint8_t* out = ds.pixels.data() + r * ds.image_bytes();
    for (std::size_t p = 0; p < kCifar10PlaneBytes; ++p)
      for (std::size_t c = 0; c < 3; ++c) out[p * 3 + c] = planes[c * kCifar10PlaneBytes + p];
  }
  return ds;
}

// One CIFAR-10 batch file (data_batch_N.bin or test_batch.bin).
inline ImageDataset read_cifar10_batch(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return parse_cifar10_batch(bytes.data(), bytes.size(), path);
}

namespace detail {

// Class names from batches.meta.txt (one a line, blank lines ignored), or the standard ten.
inline std::vector<std::string> read_cifar10_meta(const std::filesystem::path& dir) {
  const std::filesystem::path meta = dir / "batches.meta.txt";
  std::error_code ec;
  if (!std::filesystem::exists(meta, ec)) return cifar10_class_names();
  std::ifstream in(meta);
  if (!in) throw Error(meta.string(), "cannot open file for reading");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    names.push_back(line.substr(first, last - first + 1));
  }
  if (names.size() != std::size_t(kCifar10Classes))
    throw Error(meta.string(), "lists " + std::to_string(names.size()) +
                                   " class names, CIFAR-10 has " +
                                   std::to_string(kCifar10Classes));
  return names;
}

// The batch files of a split: "train" is data_batch_1..5.bin, "test" is test_batch.bin.
inline std::vector<std::string> cifar10_split_files(const std::string& split, const char* function) {
  std::vector<std::string> files;
  if (split == "train") {
    for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
  } else if (split == "test") {
    files.push_back("test_batch.bin");
  } else {
    throw Error(function, "unknown split \"" + split + "\": expected \"train\" or \"test\"");
  }
  return files;
}

}  // namespace detail

// The extracted cifar-10-batches-bin folder: split "train" (data_batch_1..5.bin, 50,000 images)
// or "test" (test_batch.bin, 10,000 images).
inline ImageDataset load_cifar10_binary(const std::string& dir, const std::string& split) {
  const std::vector<std::string> files = detail::cifar10_split_files(split, "load_cifar10_binary");
  const std::filesystem::path root(dir);
  ImageDataset all;
  for (const std::string& file : files) {
    ImageDataset batch = read_cifar10_batch((root / file).string());
    if (all.labels.empty()) {
      all = std::move(batch);
      continue;
    }
    all.pixels.insert(all.pixels.end(), batch.pixels.begin(), batch.pixels.end());
    all.labels.insert(all.labels.end(), batch.labels.begin(), batch.labels.end());
  }
  all.class_names = detail::read_cifar10_meta(root);
  return all;
}

}  // namespace deephash
