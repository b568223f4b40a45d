#pragma once
// The images a Caffe-style list file names ("<path> <label>" a line, paths relative to a root
// folder), or a list of paths held in memory, as a streaming source: the list is the index, each
// file is read when a batch needs it, in any order. Same items, labels and order as
// load_image_list.

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/data/image_list.hpp"
#include "deephash/data/sources/folder_source.hpp"

namespace deephash {

class ListSource : public FileListSource {
 public:
  ListSource(const std::string& list_path, const std::string& root_dir) {
    spec_ = "list:" + list_path + ":" + root_dir;
    const std::vector<std::uint8_t> bytes = read_file_bytes(list_path);
    int max_label = -1;
    for (const ImageListEntry& e : parse_image_list(std::string(bytes.begin(), bytes.end()), list_path)) {
      paths_.push_back((std::filesystem::path(root_dir) / e.path).string());
      labels_.push_back(e.label);
      max_label = std::max(max_label, e.label);
    }
    for (int c = 0; c <= max_label; ++c) class_names_.push_back(std::to_string(c));
  }
};

// Image files named in memory (a program's list, a Python list), with their labels (none: all 0).
class PathListSource : public FileListSource {
 public:
  explicit PathListSource(std::vector<std::string> paths, std::vector<int> labels = {}, std::string spec = "paths") {
    spec_ = std::move(spec);
    if (labels.empty()) labels.assign(paths.size(), 0);
    require(labels.size() == paths.size(), spec_, std::to_string(paths.size()) + " paths but " + std::to_string(labels.size()) + " labels");
    int max_label = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      require(labels[i] >= 0, spec_, "label " + std::to_string(labels[i]) + " of " + paths[i] + " is negative");
      max_label = std::max(max_label, labels[i]);
    }
    for (int c = 0; c <= max_label; ++c) class_names_.push_back(std::to_string(c));
    paths_ = std::move(paths);
    labels_ = std::move(labels);
  }
};

}  // namespace deephash
