#pragma once
// Images already in memory as a source, without copying their pixels: an ImageDataset, or any
// same-sized images back to back (a numpy array, a decoded batch) with their labels. The pixels
// must outlive the source. Locators are the paths when there are some, else "<spec>#<i>", which
// names the item in messages but cannot be read back by read_image_at.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/data/channel_convert.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

class MemorySource : public ImageSource {
 public:
  // `labels` (0-based) and `paths` (empty, or one per image) belong to the images in order.
  MemorySource(ImageBatchView images, std::vector<int> labels, std::vector<std::string> class_names = {},
               std::string spec = "memory", std::vector<std::string> paths = {})
      : images_(images), labels_(std::move(labels)), class_names_(std::move(class_names)), spec_(std::move(spec)),
        paths_(std::move(paths)) {
    require(labels_.size() == images_.count, spec_,
            std::to_string(images_.count) + " images but " + std::to_string(labels_.size()) + " labels");
    require(paths_.empty() || paths_.size() == images_.count, spec_,
            std::to_string(images_.count) + " images but " + std::to_string(paths_.size()) + " paths");
    require(images_.count == 0 || (images_.pixels && images_.height > 0 && images_.width > 0 && images_.channels > 0), spec_,
            "images must have a positive size, got " + std::to_string(images_.height) + "x" + std::to_string(images_.width) + "x" +
                std::to_string(images_.channels));
    for (std::size_t i = 0; i < labels_.size(); ++i)
      require(labels_[i] >= 0, spec_, "label " + std::to_string(labels_[i]) + " of image " + std::to_string(i) + " is negative");
  }
  explicit MemorySource(const ImageDataset& ds, std::string spec = "memory")
      : MemorySource(ds.all(), ds.labels, ds.class_names, std::move(spec), ds.paths) {}

  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return images_.count; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int label(std::size_t i) const override { return labels_.at(i); }
  std::string locator(std::size_t i) const override { return paths_.empty() ? spec_ + "#" + std::to_string(i) : paths_.at(i); }
  bool random_access() const override { return true; }
  int natural_channels() const override { return images_.channels; }
  int natural_height() const override { return images_.height; }
  int natural_width() const override { return images_.width; }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<MemoryReader>(*this); }

 private:
  class MemoryReader : public Reader {
   public:
    explicit MemoryReader(const MemorySource& s) : s_(s) {}
    Image read(std::size_t i, int channels) override {
      const ImageBatchView& images = s_.images_;
      if (i >= images.count) throw Error(s_.spec_, "item " + std::to_string(i) + " is out of range");
      return convert_channels(images[i].pixels, images.height, images.width, images.channels,
                              channels ? channels : images.channels, s_.locator(i));
    }

   private:
    const MemorySource& s_;
  };

  ImageBatchView images_;
  std::vector<int> labels_;
  std::vector<std::string> class_names_;
  std::string spec_;
  std::vector<std::string> paths_;
};

}  // namespace deephash
