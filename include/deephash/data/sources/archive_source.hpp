#pragma once
// Images in a tar archive, <root>/<class>/<file> (the rule of data/class_layout.hpp picks the
// root, so archive:FILE:train and archive:FILE:test stay apart), as a streaming source.
// Opening makes one streaming pass over the member headers to build the index (name, label,
// data offset, size); no pixels are held.
//  - An uncompressed .tar is random access: each member is read with pread at its recorded
//    offset, in any order, from any thread. Items are in (class, file) name order, the order of
//    load_image_archive.
//  - A .tar.gz has no random access (deflate is decoded from the start). By default it is
//    sequential-only: a reader streams through the archive once and reads items in increasing
//    index order, so encoding holds one member at a time. With cache_members set (training,
//    which shuffles over the whole collection) the selected members' encoded bytes (JPEG/PNG,
//    not pixels) are kept in memory during the opening pass and the source is random access,
//    at the cost of memory as large as the images' files.
//  - Items are in (class, file) name order in every mode, the order of load_image_archive. An
//    archive whose members are not stored in that order (tar --sort=name stores them so)
//    cannot be streamed in it, and is cached instead.
// Locators are "<archive>:<member path>".

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "deephash/data/class_layout.hpp"
#include "deephash/data/file_stream.hpp"
#include "deephash/data/image_decode.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/data/tar_stream.hpp"

namespace deephash {

struct ArchiveSourceOptions {
  std::string subfolder;       // the set to read ("train"); empty: the rule of class_layout.hpp
  bool cache_members = false;  // .tar.gz: keep the encoded members in memory for random access
};

class ArchiveSource : public ImageSource {
 public:
  explicit ArchiveSource(std::string path, ArchiveSourceOptions options = {})
      : path_(std::move(path)), spec_("archive:" + path_ + (options.subfolder.empty() ? "" : "@" + options.subfolder)) {
    const bool gzipped = is_gzip_file(path_);
    bool cache = gzipped && options.cache_members;
    std::vector<TarStreamMember> members;
    std::vector<std::vector<std::uint8_t>> data;
    {
      TarStream tar(path_);
      TarStreamMember m;
      while (tar.next(m)) {
        members.push_back(m);
        data.emplace_back();
        if (cache) tar.read_data(data.back());
      }
    }
    std::vector<std::string> names;
    names.reserve(members.size());
    for (const auto& m : members) names.push_back(m.name);
    const ClassSelection selection = select_class_items(names, options.subfolder, path_);
    class_names_ = selection.class_names;
    // Items are in (class, name) order whatever the mode, so that the hold-out rule picks the
    // same queries from a streamed archive as from a cached one. A .tar.gz streams in that
    // order only if its members are stored in it (as `tar --sort=name` writes them); one that
    // is not is cached after all: correct, at the cost of memory.
    if (gzipped && !cache && !std::is_sorted(selection.items.begin(), selection.items.end())) {
      cache = true;
      std::vector<bool> wanted(members.size(), false);
      for (std::size_t e : selection.items) wanted[e] = true;
      TarStream tar(path_);
      TarStreamMember m;
      for (std::size_t e = 0; tar.next(m); ++e)
        if (e < wanted.size() && wanted[e]) tar.read_data(data[e]);
    }
    sequential_ = gzipped && !cache;
    for (std::size_t k = 0; k < selection.items.size(); ++k) {
      const std::size_t e = selection.items[k];
      items_.push_back({members[e].name, members[e].offset, members[e].size, members[e].ordinal, selection.labels[k]});
      if (cache) cached_.push_back(std::move(data[e]));
    }
    if (!gzipped) file_ = std::make_unique<RandomAccessFile>(path_);
  }

  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return items_.size(); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int label(std::size_t i) const override { return items_.at(i).label; }
  std::string locator(std::size_t i) const override { return path_ + ":" + items_.at(i).name; }
  bool random_access() const override { return !sequential_; }
  int natural_channels() const override { return 3; }
  // The member path of item i inside the archive.
  const std::string& member_name(std::size_t i) const { return items_.at(i).name; }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<ArchiveReader>(*this); }

 private:
  struct Item {
    std::string name;
    std::uint64_t offset, size;
    std::size_t ordinal;
    int label;
  };

  class ArchiveReader : public Reader {
   public:
    explicit ArchiveReader(const ArchiveSource& s) : s_(s) {}
    Image read(std::size_t i, int channels) override {
      read_encoded(i, bytes_);
      return decode_image(bytes_.data(), bytes_.size(), s_.locator(i), channels ? channels : 3);
    }
    bool read_encoded(std::size_t i, std::vector<std::uint8_t>& out) override {
      const Item& item = s_.items_.at(i);
      if (s_.file_) {
        out.resize(std::size_t(item.size));
        s_.file_->read_at(item.offset, out.size(), out.data(), "tar member " + item.name);
      } else if (!s_.cached_.empty()) {
        out = s_.cached_[i];
      } else {
        if (started_ && i <= last_)
          throw Error(s_.spec_, "item " + std::to_string(i) + " asked for after item " + std::to_string(last_) +
                                    ": a .tar.gz is read in increasing order only (open it with "
                                    "cache_members for random access)");
        if (!tar_) tar_ = std::make_unique<TarStream>(s_.path_);
        TarStreamMember m;
        do {
          if (!tar_->next(m))
            throw Error(s_.locator(i), "the member is no longer in the archive (was it changed since it was opened?)");
        } while (m.ordinal < item.ordinal);
        if (m.ordinal != item.ordinal || m.name != item.name)
          throw Error(s_.locator(i), "the archive changed since it was opened (found " + m.name + ")");
        tar_->read_data(out);
        started_ = true;
        last_ = i;
      }
      return true;
    }

   private:
    const ArchiveSource& s_;
    std::unique_ptr<TarStream> tar_;  // sequential reading of a .tar.gz
    bool started_ = false;
    std::size_t last_ = 0;
    std::vector<std::uint8_t> bytes_;
  };

  std::string path_, spec_;
  std::vector<std::string> class_names_;
  std::vector<Item> items_;
  bool sequential_ = false;
  std::unique_ptr<RandomAccessFile> file_;            // an uncompressed .tar
  std::vector<std::vector<std::uint8_t>> cached_;     // a .tar.gz opened with cache_members
};

// The top-level folders of a folder or archive that hold class folders (train, test, ...),
// sorted: the sets one can name as the subfolder. For an archive this reads its headers.
inline std::vector<std::string> list_class_sets(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return class_sets_in_folder(path);
  std::vector<std::string> names;
  TarStream tar(path);
  TarStreamMember m;
  while (tar.next(m)) names.push_back(m.name);
  return class_sets_in_names(names);
}

}  // namespace deephash
