#pragma once
// Some items of another source, in a given order, as a source of their own: the database, the
// queries or the validation set of a held-out split, without copying anything. Item i of the
// subset is item items[i] of the parent; locators, labels and class names are the parent's.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

// A shared_ptr to a source that owns nothing: for a subset that lives only within a call while the
// source, the caller's, outlives it.
inline std::shared_ptr<const ImageSource> borrowed_source(const ImageSource& source) {
  return std::shared_ptr<const ImageSource>(&source, [](const ImageSource*) {});
}

class SubsetSource : public ImageSource {
 public:
  // `spec` names the subset in messages and encoded sets, e.g. "folder:photos (queries)".
  SubsetSource(std::shared_ptr<const ImageSource> parent, std::vector<std::size_t> items, std::string spec)
      : parent_(std::move(parent)), items_(std::move(items)), spec_(std::move(spec)) {
    for (std::size_t k = 0; k < items_.size(); ++k) {
      if (items_[k] >= parent_->size())
        throw Error(spec_, "item " + std::to_string(items_[k]) + " is out of range for " + parent_->spec() + " (" +
                               std::to_string(parent_->size()) + " items)");
      if (!parent_->random_access() && k > 0 && items_[k] <= items_[k - 1])
        throw Error(spec_, parent_->spec() + " is read sequentially only: a subset must keep its order");
    }
  }

  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return items_.size(); }
  const std::vector<std::string>& class_names() const override { return parent_->class_names(); }
  int label(std::size_t i) const override { return parent_->label(items_.at(i)); }
  std::string locator(std::size_t i) const override { return parent_->locator(items_.at(i)); }
  bool random_access() const override { return parent_->random_access(); }
  int natural_channels() const override { return parent_->natural_channels(); }
  int natural_height() const override { return parent_->natural_height(); }
  int natural_width() const override { return parent_->natural_width(); }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<SubsetReader>(parent_->reader(), items_); }

  const ImageSource& parent() const { return *parent_; }
  // Parent index of item i.
  std::size_t parent_item(std::size_t i) const { return items_.at(i); }

 private:
  class SubsetReader : public Reader {
   public:
    SubsetReader(std::unique_ptr<Reader> parent, const std::vector<std::size_t>& items)
        : parent_(std::move(parent)), items_(items) {}
    Image read(std::size_t i, int channels) override { return parent_->read(items_.at(i), channels); }

   private:
    std::unique_ptr<Reader> parent_;
    const std::vector<std::size_t>& items_;
  };

  std::shared_ptr<const ImageSource> parent_;
  std::vector<std::size_t> items_;
  std::string spec_;
};

}  // namespace deephash
