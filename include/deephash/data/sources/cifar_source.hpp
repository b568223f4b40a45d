#pragma once
// CIFAR-10 binary batches as a streaming source: records are read with pread when a batch
// needs them (any order); only the labels (one byte a record, read at open) are held. Split
// "train" is data_batch_1..5.bin, "test" is test_batch.bin, as load_cifar10_binary. Locators
// are "<batch file>#<record>".

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "deephash/data/channel_convert.hpp"
#include "deephash/data/cifar10.hpp"
#include "deephash/data/file_stream.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

namespace detail {

// Record r of an open batch file, its label checked, as HWC RGB.
inline Image read_cifar10_record(const RandomAccessFile& file, std::size_t r, int channels, int* label = nullptr) {
  std::uint8_t record[kCifar10RecordBytes];
  const std::uint64_t offset = std::uint64_t(r) * kCifar10RecordBytes;
  file.read_at(offset, kCifar10RecordBytes, record, "CIFAR-10 record " + std::to_string(r));
  if (record[0] >= kCifar10Classes)
    throw Error(file.source(), "record " + std::to_string(r) + " at offset " + std::to_string(offset) + ": label " +
                                   std::to_string(record[0]) + " is not a CIFAR-10 class (0..9)");
  if (label) *label = record[0];
  std::uint8_t hwc[3 * kCifar10PlaneBytes];
  for (std::size_t p = 0; p < kCifar10PlaneBytes; ++p)
    for (std::size_t c = 0; c < 3; ++c) hwc[p * 3 + c] = record[1 + c * kCifar10PlaneBytes + p];
  return convert_channels(hwc, kCifar10Side, kCifar10Side, 3, channels ? channels : 3,
                          file.source() + "#" + std::to_string(r));
}

inline std::size_t cifar10_record_count(const RandomAccessFile& file) {
  if (file.size() == 0) throw Error(file.source(), "the CIFAR-10 batch is empty");
  if (file.size() % kCifar10RecordBytes != 0)
    throw Error(file.source(), "truncated: the size " + std::to_string(file.size()) + " is not a multiple of the " +
                                   std::to_string(kCifar10RecordBytes) + "-byte CIFAR-10 record");
  return std::size_t(file.size() / kCifar10RecordBytes);
}

}  // namespace detail

// Record n of a CIFAR-10 batch file, alone.
inline Image read_cifar10_record(const std::string& path, std::size_t n, int channels = 3) {
  const RandomAccessFile file(path);
  const std::size_t count = detail::cifar10_record_count(file);
  if (n >= count) throw Error(path, "has " + std::to_string(count) + " records, there is no record " + std::to_string(n));
  return detail::read_cifar10_record(file, n, channels);
}

class CifarSource : public ImageSource {
 public:
  CifarSource(const std::string& dir, const std::string& split) : spec_("cifar10:" + dir + "@" + split) {
    const std::vector<std::string> names = detail::cifar10_split_files(split, "CifarSource");
    for (const std::string& name : names) {
      files_.push_back(std::make_unique<RandomAccessFile>((std::filesystem::path(dir) / name).string()));
      const RandomAccessFile& file = *files_.back();
      const std::size_t count = detail::cifar10_record_count(file);
      // Labels: one pass of reads over the file, a record at a time through a buffer.
      std::vector<std::uint8_t> chunk;
      constexpr std::size_t kRecordsPerRead = 256;
      for (std::size_t r = 0; r < count; r += kRecordsPerRead) {
        const std::size_t n = std::min(kRecordsPerRead, count - r);
        chunk.resize(n * kCifar10RecordBytes);
        file.read_at(std::uint64_t(r) * kCifar10RecordBytes, chunk.size(), chunk.data(), "CIFAR-10 records");
        for (std::size_t k = 0; k < n; ++k) {
          const std::uint8_t label = chunk[k * kCifar10RecordBytes];
          if (label >= kCifar10Classes)
            throw Error(file.source(), "record " + std::to_string(r + k) + " at offset " +
                                           std::to_string((r + k) * kCifar10RecordBytes) + ": label " +
                                           std::to_string(label) + " is not a CIFAR-10 class (0..9)");
          labels_.push_back(label);
          where_.push_back({files_.size() - 1, r + k});
        }
      }
    }
    class_names_ = detail::read_cifar10_meta(dir);
  }

  const std::string& spec() const override { return spec_; }
  std::size_t size() const override { return labels_.size(); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int label(std::size_t i) const override { return labels_.at(i); }
  std::string locator(std::size_t i) const override {
    const auto& w = where_.at(i);
    return files_[w.file]->source() + "#" + std::to_string(w.record);
  }
  bool random_access() const override { return true; }
  int natural_channels() const override { return 3; }
  int natural_height() const override { return kCifar10Side; }
  int natural_width() const override { return kCifar10Side; }

  std::unique_ptr<Reader> reader() const override { return std::make_unique<CifarReader>(*this); }

 private:
  struct Where {
    std::size_t file, record;
  };
  class CifarReader : public Reader {
   public:
    explicit CifarReader(const CifarSource& s) : s_(s) {}
    Image read(std::size_t i, int channels) override {
      const Where& w = s_.where_.at(i);
      return detail::read_cifar10_record(*s_.files_[w.file], w.record, channels);
    }

   private:
    const CifarSource& s_;
  };

  std::string spec_;
  std::vector<std::unique_ptr<RandomAccessFile>> files_;
  std::vector<int> labels_;
  std::vector<Where> where_;
  std::vector<std::string> class_names_;
};

}  // namespace deephash
