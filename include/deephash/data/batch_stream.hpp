#pragma once
// Batches of decoded images from an ImageSource, decoded on worker threads ahead of the
// consumer. At most `prefetch_batches` batches are in flight (decoding or decoded, not yet
// taken), so memory is bounded by the batch size, not the collection. Batches come out in the
// order given, whatever order the workers finish in.
//
// Random-access sources: every worker has its own Reader and claims items one at a time (read
// and decode both run in parallel). Sequential-only sources (.tar.gz): the order must increase;
// one reader thread streams the items' encoded bytes in that order, and the workers decode
// them. This is the library's one level of parallelism for input: decoding does not start
// threads of its own, and the workers are plain threads rather than ThreadPool tasks, because
// parallel_for blocks its caller until all tasks are done.

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/data/image_decode.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/data/image_view.hpp"

namespace deephash {

// One batch, owning its pixels: HWC 8-bit images of one size, back to back.
struct DecodedBatch {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  std::vector<int> labels;          // one per image
  std::vector<std::size_t> items;   // the source's index of each image

  std::size_t size() const { return items.size(); }
  ImageBatchView view() const { return {height, width, channels, pixels.data(), items.size()}; }
};

class BatchStream {
 public:
  // Batches of `batch_size` items of `order` (the last may be smaller). workers 0: default_num_threads().
  BatchStream(const ImageSource& source, std::vector<std::size_t> order, std::size_t batch_size,
              DecodeOptions options = {}, unsigned workers = 0, std::size_t prefetch_batches = 2)
      : source_(source), order_(std::move(order)), batch_size_(batch_size), options_(options),
        prefetch_(prefetch_batches) {
    const std::string where = "BatchStream(" + source.spec() + ")";
    if (batch_size_ == 0) throw Error(where, "the batch size must be positive");
    if (prefetch_ == 0) throw Error(where, "prefetch_batches must be at least 1");
    if (options_.channels == 0) options_.channels = source.natural_channels();
    detail::check_channels(options_.channels, where);
    if ((options_.resize_height != 0 || options_.resize_width != 0) &&
        (options_.resize_height <= 0 || options_.resize_width <= 0))
      throw Error(where, "resize_height and resize_width must both be positive (or both 0 to keep the size)");
    for (std::size_t p = 0; p < order_.size(); ++p) {
      if (order_[p] >= source.size())
        throw Error(where, "item " + std::to_string(order_[p]) + " (position " + std::to_string(p) +
                               ") is out of range for a source of " + std::to_string(source.size()) + " items");
      if (!source.random_access() && p > 0 && order_[p] <= order_[p - 1])
        throw Error(where, "this source is read sequentially (" + source.spec() +
                               "): the order must increase, but item " + std::to_string(order_[p]) +
                               " comes after item " + std::to_string(order_[p - 1]));
    }
    slots_.resize(prefetch_);
    if (workers == 0) workers = default_num_threads();
    try {
      if (!source.random_access()) threads_.emplace_back([this] { read_sequentially(); });
      for (unsigned w = 0; w < workers; ++w)
        threads_.emplace_back([this] { source_.random_access() ? work_random() : work_sequential(); });
    } catch (...) {
      stop();
      throw;
    }
  }

  ~BatchStream() { stop(); }
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  std::size_t num_batches() const { return (order_.size() + batch_size_ - 1) / batch_size_; }

  // The next batch into `out` (whose buffers are reused); false when all were given. A worker's
  // error is rethrown here, naming the item's locator.
  bool next(DecodedBatch& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (consumed_ == num_batches()) return false;
    Slot& slot = slots_[consumed_ % prefetch_];
    ready_.wait(lock, [&] { return error_ || (slot.batch_index == consumed_ && slot.done == batch_count(consumed_)); });
    if (error_) std::rethrow_exception(error_);
    std::swap(out, slot.batch);
    slot.batch_index = kNone;
    ++consumed_;
    lock.unlock();
    room_.notify_all();
    return true;
  }

 private:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  struct Slot {
    std::size_t batch_index = kNone;
    std::size_t done = 0;
    DecodedBatch batch;
  };
  // Work for a sequential source's decoders: encoded bytes, or an image its reader decoded.
  struct Work {
    std::size_t position = 0;
    bool decoded = false;
    std::vector<std::uint8_t> bytes;
    Image image;
  };

  std::size_t batch_count(std::size_t b) const { return std::min(batch_size_, order_.size() - b * batch_size_); }
  // Whether position p may be worked on now: its batch is within the prefetch window.
  bool in_window(std::size_t p) const { return p / batch_size_ < consumed_ + prefetch_; }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    room_.notify_all();
    work_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  // Records the first error, naming the item, and wakes everyone.
  void fail(std::size_t position) {
    const std::string locator = source_.locator(order_[position]);
    std::exception_ptr e;
    try {
      throw;
    } catch (const Error& err) {
      e = err.source().compare(0, locator.size(), locator) == 0 ? std::current_exception()
                                                               : std::make_exception_ptr(Error(locator, err.what()));
    } catch (const std::exception& err) {
      e = std::make_exception_ptr(Error(locator, err.what()));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = e;
    }
    ready_.notify_all();
    room_.notify_all();
    work_.notify_all();
  }

  Image finish(Image image) const {
    if (options_.resize_height > 0) image = resize_image(image, options_.resize_height, options_.resize_width);
    return image;
  }

  // Puts the image of position p into its batch (mutex_ held).
  void place(std::size_t p, const Image& image) {
    const std::size_t b = p / batch_size_;
    Slot& slot = slots_[b % prefetch_];
    if (!sized_) {
      height_ = image.height;
      width_ = image.width;
      sized_ = true;
      first_ = p;
    }
    if (image.height != height_ || image.width != width_)
      throw Error(source_.locator(order_[p]),
                  "the image is " + std::to_string(image.height) + "x" + std::to_string(image.width) + " but " +
                      source_.locator(order_[first_]) + " is " + std::to_string(height_) + "x" +
                      std::to_string(width_) + "; set DecodeOptions::resize_height and resize_width to read images of mixed sizes");
    if (slot.batch_index != b) {
      const std::size_t n = batch_count(b);
      slot.batch_index = b;
      slot.done = 0;
      slot.batch.height = height_;
      slot.batch.width = width_;
      slot.batch.channels = image.channels;
      slot.batch.pixels.resize(n * image.bytes());
      slot.batch.labels.resize(n);
      slot.batch.items.resize(n);
    }
    const std::size_t k = p - b * batch_size_;
    std::memcpy(slot.batch.pixels.data() + k * image.bytes(), image.pixels.data(), image.bytes());
    slot.batch.items[k] = order_[p];
    slot.batch.labels[k] = source_.label(order_[p]);
    if (++slot.done == batch_count(b)) ready_.notify_all();
  }

  void work_random() {
    std::unique_ptr<ImageSource::Reader> reader;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      room_.wait(lock, [&] { return stop_ || error_ || next_position_ >= order_.size() || in_window(next_position_); });
      if (stop_ || error_ || next_position_ >= order_.size()) return;
      const std::size_t p = next_position_++;
      lock.unlock();
      try {
        if (!reader) reader = source_.reader();
        const Image image = finish(reader->read(order_[p], options_.channels));
        lock.lock();
        place(p, image);
      } catch (...) {
        if (lock.owns_lock()) lock.unlock();
        fail(p);
        return;
      }
    }
  }

  void read_sequentially() {
    std::size_t p = 0;
    try {
      auto reader = source_.reader();
      for (; p < order_.size(); ++p) {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          room_.wait(lock, [&] { return stop_ || error_ || in_window(p); });
          if (stop_ || error_) return;
        }
        Work w;
        w.position = p;
        if (!reader->read_encoded(order_[p], w.bytes)) {
          w.decoded = true;
          w.image = reader->read(order_[p], options_.channels);
        }
        {
          std::lock_guard<std::mutex> lock(mutex_);
          queue_.push_back(std::move(w));
        }
        work_.notify_one();
      }
    } catch (...) {
      fail(std::min(p, order_.size() - 1));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reader_done_ = true;
    }
    work_.notify_all();
  }

  void work_sequential() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      work_.wait(lock, [&] { return stop_ || error_ || !queue_.empty() || reader_done_; });
      if (stop_ || error_ || queue_.empty()) return;
      Work w = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      try {
        Image image = w.decoded ? std::move(w.image)
                                : decode_image(w.bytes.data(), w.bytes.size(), source_.locator(order_[w.position]),
                                               options_.channels);
        image = finish(std::move(image));
        lock.lock();
        place(w.position, image);
      } catch (...) {
        if (lock.owns_lock()) lock.unlock();
        fail(w.position);
        return;
      }
    }
  }

  const ImageSource& source_;
  std::vector<std::size_t> order_;
  std::size_t batch_size_;
  DecodeOptions options_;
  std::size_t prefetch_;

  std::mutex mutex_;
  std::condition_variable ready_;  // a batch is complete, or an error
  std::condition_variable room_;   // a batch was taken: the window moved
  std::condition_variable work_;   // encoded bytes queued (sequential sources)
  std::vector<Slot> slots_;        // batch b lives in slots_[b % prefetch_]
  std::size_t next_position_ = 0, consumed_ = 0;
  bool sized_ = false;
  int height_ = 0, width_ = 0;
  std::size_t first_ = 0;
  std::deque<Work> queue_;
  bool reader_done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

// Every item of a source decoded into one in-memory dataset (for what needs all pixels at once,
// such as the LSH / ITQ baselines on raw pixels): memory grows with the collection.
inline ImageDataset read_into_memory(const ImageSource& source, DecodeOptions options = {}, unsigned workers = 0) {
  std::vector<std::size_t> order(source.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  ImageDataset out;
  out.class_names = source.class_names();
  BatchStream stream(source, std::move(order), 256, options, workers, 2);
  DecodedBatch b;
  while (stream.next(b)) {
    out.height = b.height;
    out.width = b.width;
    out.channels = b.channels;
    out.pixels.insert(out.pixels.end(), b.pixels.begin(), b.pixels.begin() + std::ptrdiff_t(b.view().image_bytes() * b.size()));
    out.labels.insert(out.labels.end(), b.labels.begin(), b.labels.end());
    for (std::size_t item : b.items) out.paths.push_back(source.locator(item));
  }
  return out;
}

}  // namespace deephash
