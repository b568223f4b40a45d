#pragma once
// An array an index searches that either lives in memory of its own (built) or points into a
// mapped index file (map_index), like CodeBlocks does for the codes: multi-index hashing's tables
// and pivot shells. A view checks the chunks of the file it reads against their checksums on
// first use (checked(), at()); operator[] reads without checking, for what was checked already.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "deephash/core/chunk_checksums.hpp"
#include "deephash/core/file_region.hpp"

namespace deephash {

template <class T>
class StoredArray {
 public:
  StoredArray() = default;
  StoredArray(std::vector<T> values) : owned_(std::move(values)) {}  // NOLINT: built arrays convert

  // n elements at `data` inside `region`, which the view keeps alive; `checks` (or null) covers
  // the section they lie in, from byte `section_offset` of it on.
  static StoredArray view(const T* data, std::size_t n, std::shared_ptr<const FileRegion> region,
                          std::shared_ptr<const ChunkChecksums> checks, std::size_t section_offset) {
    StoredArray a;
    a.view_ = data;
    a.n_ = n;
    a.region_ = std::move(region);
    a.checks_ = std::move(checks);
    a.section_offset_ = section_offset;
    return a;
  }

  bool is_view() const { return view_ != nullptr || region_ != nullptr; }
  const T* data() const { return is_view() ? view_ : owned_.data(); }
  std::size_t size() const { return is_view() ? n_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  const T& operator[](std::size_t i) const { return data()[i]; }

  // Elements [first, last), checked against the file's checksums when viewed.
  const T* checked(std::size_t first, std::size_t last) const {
    if (checks_ && first < last) checks_->verify(section_offset_ + first * sizeof(T), section_offset_ + last * sizeof(T));
    return data() + first;
  }
  T at(std::size_t i) const { return *checked(i, i + 1); }
  void check_all() const { checked(0, size()); }

  // Bytes of memory of its own (a view's pages are the page cache's).
  std::size_t memory_bytes() const { return owned_.capacity() * sizeof(T); }

 private:
  std::vector<T> owned_;
  const T* view_ = nullptr;
  std::size_t n_ = 0;
  std::shared_ptr<const FileRegion> region_;
  std::shared_ptr<const ChunkChecksums> checks_;
  std::size_t section_offset_ = 0;
};

}  // namespace deephash
