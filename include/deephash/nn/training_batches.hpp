#pragma once
// The images of training iterations [first, until) of a source: batch `it` holds the items of
// the per-epoch shuffles that batch_rows assigns to it (reshuffled every epoch, drawn from the
// seed alone), decoded on worker threads ahead of the network by a BatchStream. A run resumed
// at any iteration sees exactly the batches an uninterrupted one would. Shared by the CPU and
// GPU training loops.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/batch_stream.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash::nn {

// The order of the training samples in an epoch: a permutation drawn from (seed, epoch) alone,
// so that a run resumed from a snapshot at any iteration continues exactly as it would have.
inline std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::size_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1)));
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

// The rows of training batch `iteration`: consecutive positions of the per-epoch permutations
// (`order` caches the permutation of epoch `order_epoch`).
inline void batch_rows(std::size_t n, std::uint64_t seed, int iteration, std::vector<std::size_t>& rows,
                       std::vector<std::size_t>& order, std::size_t& order_epoch) {
  for (std::size_t b = 0; b < rows.size(); ++b) {
    const std::size_t sample = std::size_t(iteration) * rows.size() + b, epoch = sample / n;
    if (epoch != order_epoch) {
      order = epoch_order(n, seed, epoch);
      order_epoch = epoch;
    }
    rows[b] = order[sample % n];
  }
}

class TrainingBatches {
 public:
  // `decode` gives every image one size (the transformation's resize) and the net's channels.
  // With `ranks` > 1 (data-parallel training) `batch` is the global batch and this rank's batches
  // are its slice of each, rows [rank * batch / ranks, (rank + 1) * batch / ranks): only those
  // images are decoded here.
  TrainingBatches(const ImageSource& source, std::uint64_t seed, std::size_t batch, int first, int until,
                  DecodeOptions decode, unsigned workers, const std::string& label, int rank = 0, int ranks = 1) {
    if (source.size() == 0) throw Error(label, "the training set is empty");
    if (batch == 0) throw Error(label, "batch size must be positive");
    if (ranks < 1 || rank < 0 || rank >= ranks)
      throw Error(label, "rank " + std::to_string(rank) + " is not one of " + std::to_string(ranks) + " ranks");
    if (batch % std::size_t(ranks) != 0)
      throw Error(label, "the batch of " + std::to_string(batch) + " images does not split evenly over " + std::to_string(ranks) +
                             " ranks: make it a multiple of " + std::to_string(ranks));
    const std::size_t slice = batch / std::size_t(ranks), slice_begin = std::size_t(rank) * slice;
    if (!source.random_access())
      throw Error(label, source.spec() + " is read sequentially only, and training draws its images in a shuffled order: "
                                         "open it for random access (a .tar.gz then keeps its encoded images in memory)");
    std::vector<std::size_t> order, rows(batch), epoch;
    std::size_t epoch_index = std::size_t(-1);
    order.reserve(std::size_t(std::max(0, until - first)) * slice);
    for (int it = first; it < until; ++it) {
      batch_rows(source.size(), seed, it, rows, epoch, epoch_index);
      order.insert(order.end(), rows.begin() + std::ptrdiff_t(slice_begin), rows.begin() + std::ptrdiff_t(slice_begin + slice));
    }
    if (!order.empty()) stream_ = std::make_unique<BatchStream>(source, std::move(order), slice, decode, workers, 4);
  }

  // The next iteration's images and labels (this rank's slice of them).
  const DecodedBatch& next() {
    if (!stream_ || !stream_->next(batch_)) throw Error("TrainingBatches", "internal error: asked for more batches than planned");
    return batch_;
  }

 private:
  std::unique_ptr<BatchStream> stream_;
  DecodedBatch batch_;
};

}  // namespace deephash::nn
