#pragma once
// Images in a folder, root/<class>/<file> (the rule of data/class_layout.hpp picks the root) or
// root/<file> (one class),
// as a streaming source: the listing is the index, and each item is one file read when a batch
// needs it, in any order. Same items, labels and order as load_image_folder on the root.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/data/class_layout.hpp"
#include "deephash/data/image_decode.hpp"
#include "deephash/data/image_folder.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

// A source whose items are image files at known paths (folders, list files).
class FileListSource : public ImageSource {
 public:
  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return paths_.size(); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int label(std::size_t i) const override { return labels_.at(i); }
  std::string locator(std::size_t i) const override { return paths_.at(i); }
  bool random_access() const override { return true; }
  int natural_channels() const override { return 3; }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<FileReader>(*this); }

 protected:
  class FileReader : public Reader {
   public:
    explicit FileReader(const FileListSource& s) : s_(s) {}
    Image read(std::size_t i, int channels) override {
      read_encoded(i, bytes_);
      return decode_image(bytes_.data(), bytes_.size(), s_.paths_.at(i), channels ? channels : 3);
    }
    bool read_encoded(std::size_t i, std::vector<std::uint8_t>& out) override {
      out = read_file_bytes(s_.paths_.at(i));
      return true;
    }

   private:
    const FileListSource& s_;
    std::vector<std::uint8_t> bytes_;
  };

  std::string spec_;
  std::vector<std::string> paths_, class_names_;
  std::vector<int> labels_;
};

class FolderSource : public FileListSource {
 public:
  // `subfolder` selects a set (e.g. "train" for dir/train/<class>/...); empty: the rule of
  // class_layout.hpp.
  explicit FolderSource(const std::string& dir, const std::string& subfolder = "") {
    spec_ = "folder:" + dir + (subfolder.empty() ? "" : "@" + subfolder);
    detail::list_class_folder(class_root_folder(dir, subfolder), paths_, labels_, class_names_);
  }
};

}  // namespace deephash
