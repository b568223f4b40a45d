#pragma once
// An ImageDataset already in memory as a source, without copying it: the dataset must outlive
// the source. Locators are the dataset's paths when it has them, else "<spec>#<i>", which
// names the item in messages but cannot be read back by read_image_at.

#include <memory>
#include <string>

#include "deephash/data/channel_convert.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

class MemorySource : public ImageSource {
 public:
  explicit MemorySource(const ImageDataset& ds, std::string spec = "memory") : ds_(ds), spec_(std::move(spec)) {}

  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return ds_.size(); }
  const std::vector<std::string>& class_names() const override { return ds_.class_names; }
  int label(std::size_t i) const override { return ds_.labels.at(i); }
  std::string locator(std::size_t i) const override {
    return ds_.paths.empty() ? spec_ + "#" + std::to_string(i) : ds_.paths.at(i);
  }
  bool random_access() const override { return true; }
  int natural_channels() const override { return ds_.channels; }
  int natural_height() const override { return ds_.height; }
  int natural_width() const override { return ds_.width; }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<MemoryReader>(*this); }

 private:
  class MemoryReader : public Reader {
   public:
    explicit MemoryReader(const MemorySource& s) : s_(s) {}
    Image read(std::size_t i, int channels) override {
      const ImageDataset& ds = s_.ds_;
      if (i >= ds.size()) throw Error(s_.spec_, "item " + std::to_string(i) + " is out of range");
      return convert_channels(ds.image(i), ds.height, ds.width, ds.channels, channels ? channels : ds.channels,
                              s_.locator(i));
    }

   private:
    const MemorySource& s_;
  };

  const ImageDataset& ds_;
  std::string spec_;
};

}  // namespace deephash
