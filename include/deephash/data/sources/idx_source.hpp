#pragma once
// IDX images and labels (MNIST, Fashion-MNIST) as a streaming source. An uncompressed images
// file is read record by record with pread (any order, nothing held); a gzip-compressed one
// has no random access and is inflated once into memory when the source is opened: these
// files are small (Fashion-MNIST's training images are 47 MB inflated), so this is the one
// source whose memory grows with the collection. Labels (one byte an item) are read whole.
// Locators are "<images file>#<record>".

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/data/channel_convert.hpp"
#include "deephash/data/file_stream.hpp"
#include "deephash/data/idx.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

namespace detail {

// An IDX images file's header: count x height x width unsigned bytes from data_offset on.
struct IdxImagesHeader {
  std::size_t count = 0, height = 0, width = 0;
  std::uint64_t data_offset = 0;
};

inline IdxImagesHeader read_idx_images_header(ByteStream& in) {
  std::uint8_t head[16];
  const std::string& source = in.source();
  if (in.read(head, 4) < 4) throw Error(source, "truncated: the IDX header needs 4 bytes");
  if (head[0] != 0 || head[1] != 0) throw Error(source, "not an IDX file: bad magic number");
  if (head[2] != kIdxUnsignedByte)
    throw Error(source, "unsupported element type " + hex_byte(head[2]) + " (" + idx_type_name(head[2]) +
                            "): only unsigned bytes (0x08) are read");
  if (head[3] != 3)
    throw Error(source, "expected images as a 3-D array (count x height x width), found " +
                            std::to_string(head[3]) + " dimensions");
  if (in.read(head + 4, 12) < 12) throw Error(source, "truncated: the IDX header needs 16 bytes");
  IdxImagesHeader h;
  h.count = read_be32(head + 4);
  h.height = read_be32(head + 8);
  h.width = read_be32(head + 12);
  h.data_offset = 16;
  constexpr std::size_t kMaxSide = 1 << 20;
  if (h.height == 0 || h.width == 0 || h.height > kMaxSide || h.width > kMaxSide)
    throw Error(source, "image size " + std::to_string(h.height) + " x " + std::to_string(h.width) + " is not usable");
  return h;
}

}  // namespace detail

// Record n of an IDX images file (plain or gzip), alone: pread for a plain file, a streaming
// pass up to it for a gzip one.
inline Image read_idx_record(const std::string& path, std::size_t n, int channels = 1) {
  auto in = open_byte_stream(path);
  const detail::IdxImagesHeader h = detail::read_idx_images_header(*in);
  if (n >= h.count)
    throw Error(path, "has " + std::to_string(h.count) + " images, there is no record " + std::to_string(n));
  const std::size_t bytes = h.height * h.width;
  std::vector<std::uint8_t> pixels(bytes);
  if (in->skip(std::uint64_t(n) * bytes) < std::uint64_t(n) * bytes || in->read(pixels.data(), bytes) < bytes)
    throw Error(path, "truncated: record " + std::to_string(n) + " is not all there");
  return convert_channels(pixels.data(), int(h.height), int(h.width), 1, channels ? channels : 1,
                          path + "#" + std::to_string(n));
}

class IdxSource : public ImageSource {
 public:
  IdxSource(const std::string& images_path, const std::string& labels_path,
            std::vector<std::string> class_names = {}, std::string spec = "")
      : spec_(spec.empty() ? "idx:" + images_path : std::move(spec)), path_(images_path),
        class_names_(std::move(class_names)) {
    const IdxArray labels = read_idx_u8(labels_path);
    if (labels.dims.size() != 1)
      throw Error(labels_path, "expected labels as a 1-D array, found " + std::to_string(labels.dims.size()) +
                                   " dimensions (" + detail::dims_text(labels.dims) + ")");
    labels_.assign(labels.values.begin(), labels.values.end());
    auto in = open_byte_stream(images_path);
    header_ = detail::read_idx_images_header(*in);
    const std::size_t bytes = header_.height * header_.width;
    if (is_gzip_file(images_path)) {
      IdxArray all = read_idx_u8(images_path);  // checks the data length against the header
      inflated_ = std::move(all.values);
    } else {
      file_ = std::make_unique<RandomAccessFile>(images_path);
      const std::uint64_t data = file_->size() - header_.data_offset;
      if (data != std::uint64_t(header_.count) * bytes)
        throw Error(images_path, "the dimensions " + std::to_string(header_.count) + " x " +
                                     std::to_string(header_.height) + " x " + std::to_string(header_.width) +
                                     " need " + std::to_string(std::uint64_t(header_.count) * bytes) +
                                     " data bytes, the file has " + std::to_string(data));
    }
    if (labels_.size() != header_.count)
      throw Error(labels_path, "has " + std::to_string(labels_.size()) + " labels but " + images_path +
                                   " has " + std::to_string(header_.count) + " images");
    for (std::size_t i = 0; i < labels_.size() && !class_names_.empty(); ++i)
      if (labels_[i] >= int(class_names_.size()))
        throw Error(labels_path, "label " + std::to_string(labels_[i]) + " of image " + std::to_string(i) +
                                     " is out of range for the " + std::to_string(class_names_.size()) + " classes");
  }

  // The MNIST layout (train-* / t10k-* files, plain or .gz) in `dir`: Fashion-MNIST's, with its
  // class names, or MNIST's, whose classes are the digits.
  static std::unique_ptr<IdxSource> fashion_mnist(const std::string& dir, const std::string& split) {
    return mnist_layout(dir, split, load_fashion_mnist_class_names(), "fashion-mnist");
  }
  static std::unique_ptr<IdxSource> mnist(const std::string& dir, const std::string& split) {
    return mnist_layout(dir, split, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, "mnist");
  }

  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return labels_.size(); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int label(std::size_t i) const override { return labels_.at(i); }
  std::string locator(std::size_t i) const override { return path_ + "#" + std::to_string(i); }
  bool random_access() const override { return true; }
  int natural_channels() const override { return 1; }
  int natural_height() const override { return int(header_.height); }
  int natural_width() const override { return int(header_.width); }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<IdxReader>(*this); }

 private:
  static std::unique_ptr<IdxSource> mnist_layout(const std::string& dir, const std::string& split,
                                                 std::vector<std::string> class_names, const std::string& kind) {
    if (split != "train" && split != "test")
      throw Error(kind + ":" + dir, "unknown split \"" + split + "\": expected \"train\" or \"test\"");
    const std::string prefix = split == "train" ? "train" : "t10k";
    // Looked up one after the other (not as arguments, whose order is the compiler's), so a missing
    // images file is the one named whatever compiled this.
    std::string images = detail::find_maybe_gzipped(dir, prefix + "-images-idx3-ubyte");
    std::string labels = detail::find_maybe_gzipped(dir, prefix + "-labels-idx1-ubyte");
    return std::make_unique<IdxSource>(std::move(images), std::move(labels), std::move(class_names),
                                       kind + ":" + dir + "@" + split);
  }

  static std::vector<std::string> load_fashion_mnist_class_names() {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  }

  class IdxReader : public Reader {
   public:
    explicit IdxReader(const IdxSource& s) : s_(s), pixels_(s.header_.height * s.header_.width) {}
    Image read(std::size_t i, int channels) override {
      const auto& h = s_.header_;
      if (i >= h.count) throw Error(s_.path_, "there is no record " + std::to_string(i));
      const std::size_t bytes = pixels_.size();
      const std::uint8_t* p = nullptr;
      if (s_.file_) {
        s_.file_->read_at(h.data_offset + std::uint64_t(i) * bytes, bytes, pixels_.data(), "record " + std::to_string(i));
        p = pixels_.data();
      } else {
        p = s_.inflated_.data() + i * bytes;
      }
      return convert_channels(p, int(h.height), int(h.width), 1, channels ? channels : 1, s_.locator(i));
    }

   private:
    const IdxSource& s_;
    std::vector<std::uint8_t> pixels_;
  };

  std::string spec_, path_;
  std::vector<std::string> class_names_;
  std::vector<int> labels_;
  detail::IdxImagesHeader header_;
  std::unique_ptr<RandomAccessFile> file_;  // uncompressed images
  std::vector<std::uint8_t> inflated_;      // gzip-compressed images, inflated once
};

}  // namespace deephash
