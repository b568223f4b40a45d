#pragma once
// Image datasets described by a Caffe-style list file: one "<relative path> <label>" a line,
// the label a non-negative integer, the path relative to a root folder. As in Caffe, the label
// is what follows the last space, so paths may contain spaces.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/image_folder.hpp"

namespace deephash {

struct ImageListEntry {
  std::string path;  // as written in the list (relative to the root folder)
  int label;
  std::size_t line;
};

// The entries of a list file's text. Blank lines are skipped; Windows line ends are fine.
// Errors name "<source>:<line>".
inline std::vector<ImageListEntry> parse_image_list(const std::string& text, const std::string& source) {
  constexpr int kMaxLabel = 1 << 24;  // far beyond any class count; keeps class_names sane
  constexpr const char* kSpace = " \t\r";
  std::vector<ImageListEntry> entries;
  std::size_t line_number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t newline = text.find('\n', start);
    const std::size_t stop = newline == std::string::npos ? text.size() : newline;
    const std::string line = text.substr(start, stop - start);
    start = stop + 1;
    ++line_number;
    const std::string at = source + ":" + std::to_string(line_number);

    const std::size_t first = line.find_first_not_of(kSpace);
    if (first == std::string::npos) continue;  // blank
    const std::size_t last = line.find_last_not_of(kSpace);
    const std::size_t split = line.find_last_of(" \t", last);
    if (split == std::string::npos || split < first)
      throw Error(at, "expected \"<path> <label>\", found no label in \"" + line.substr(first, last - first + 1) + "\"");
    const std::string label_text = line.substr(split + 1, last - split);
    long long label = 0;
    for (char c : label_text) {
      if (c < '0' || c > '9' || label > kMaxLabel) {
        label = -1;
        break;
      }
      label = label * 10 + (c - '0');
    }
    if (label < 0 || label > kMaxLabel)
      throw Error(at, "the label \"" + label_text + "\" is not a non-negative integer up to " + std::to_string(kMaxLabel));
    const std::size_t path_end = line.find_last_not_of(kSpace, split);
    entries.push_back({line.substr(first, path_end - first + 1), static_cast<int>(label), line_number});
  }
  if (entries.empty()) throw Error(source, "lists no images");
  return entries;
}

// Loads the images a list file names. class_names are the label numbers as strings, "0".."max".
inline ImageDataset load_image_list(const std::string& list_path, const std::string& root_dir,
                                    const ImageLoadOptions& options = {}) {
  detail::check_load_options(options, list_path);
  const std::vector<std::uint8_t> bytes = read_file_bytes(list_path);
  const std::vector<ImageListEntry> entries = parse_image_list(std::string(bytes.begin(), bytes.end()), list_path);
  ImageDataset ds;
  std::vector<std::string> where;  // "<list_path>:<line>" of each image
  int max_label = -1;
  for (const ImageListEntry& e : entries) {
    ds.paths.push_back((std::filesystem::path(root_dir) / e.path).string());
    ds.labels.push_back(e.label);
    where.push_back(list_path + ":" + std::to_string(e.line));
    max_label = std::max(max_label, e.label);
  }
  for (int c = 0; c <= max_label; ++c) ds.class_names.push_back(std::to_string(c));

  detail::decode_dataset_images(ds, options, where, [&](std::size_t i, std::vector<std::uint8_t>& scratch) {
    scratch = read_file_bytes(ds.paths[i]);
    return std::pair<const std::uint8_t*, std::size_t>(scratch.data(), scratch.size());
  });
  return ds;
}

}  // namespace deephash
