#pragma once
// Streaming image sources: a collection of labelled images known by an index over its items
// (label, class, locator), decoded only when a batch needs them. Nothing here holds a whole
// collection's pixels: memory does not grow with the number of images.
//
// CONTRACT (implemented by data/sources/*.hpp; BatchStream in data/batch_stream.hpp):
//  - size(), class_names(), label(i) and locator(i) are known when the source is opened (one
//    pass over a folder listing, a list file, a tar's headers, an IDX or CIFAR header).
//  - locator(i) names item i so that read_image_at(locator) (data/locator.hpp) reads it back on
//    its own, later, in another process: a file path; "ARCHIVE.tar[.gz]:member/path.jpg" for an
//    archive member; "FILE#N" for record N of an IDX or CIFAR binary file.
//  - Items are read through a Reader, one per thread. A random-access source reads any item in
//    any order; a sequential-only one (a .tar.gz: deflate has no random access) reads items in
//    increasing index order only, and says so with random_access() == false.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/image_dataset.hpp"

namespace deephash {

// How items become the same-sized images of a batch.
struct DecodeOptions {
  int channels = 0;                         // 1 gray, 3 RGB; 0: the source's own (natural_channels())
  int resize_height = 0, resize_width = 0;  // 0: keep the stored size (items must then share one)
};

class ImageSource {
 public:
  // Reads items one at a time; not shared between threads.
  class Reader {
   public:
    virtual ~Reader() = default;
    // Item i decoded (its stored size; `channels` as asked, 0: natural). For a sequential-only
    // source, i must be larger than the index this reader read last.
    virtual Image read(std::size_t i, int channels) = 0;
    // Item i's encoded file bytes into `out`, for sources that store encoded images (folders,
    // lists, archives): BatchStream then reads a sequential source's bytes on one thread and
    // decodes them on others. False (the default) for raw formats, whose read() is cheap.
    // The same ordering rule as read() applies.
    virtual bool read_encoded(std::size_t i, std::vector<std::uint8_t>& out) {
      (void)i;
      (void)out;
      return false;
    }
  };

  virtual ~ImageSource() = default;

  // What was opened, as the user named it (e.g. "archive:cifar.tar.gz:train"): recorded in
  // encoded sets and shown in messages.
  virtual const std::string& spec() const = 0;
  virtual std::size_t size() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  virtual int label(std::size_t i) const = 0;
  virtual std::string locator(std::size_t i) const = 0;
  virtual bool random_access() const = 0;
  // 1 for gray formats (IDX), 3 for colour.
  virtual int natural_channels() const = 0;
  // The common stored size when the format fixes it (IDX, CIFAR, memory), else 0 x 0.
  virtual int natural_height() const { return 0; }
  virtual int natural_width() const { return 0; }

  virtual std::unique_ptr<Reader> reader() const = 0;

  std::vector<int> labels() const {
    std::vector<int> out(size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = label(i);
    return out;
  }
  int num_classes() const {
    int n = int(class_names().size());
    for (std::size_t i = 0; i < size(); ++i) n = std::max(n, label(i) + 1);
    return n;
  }
};

// The stored size of the source's images: fixed by the format, else that of its first item.
inline std::pair<int, int> stored_image_size(const ImageSource& images) {
  if (images.natural_height() > 0) return {images.natural_height(), images.natural_width()};
  if (images.size() == 0) throw Error(images.spec(), "holds no images");
  const Image first = images.reader()->read(0, 0);
  return {first.height, first.width};
}

}  // namespace deephash
