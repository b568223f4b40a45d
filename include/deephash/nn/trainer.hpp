#pragma once
// The training loop: shuffled mini-batches of a labelled image set, augmented and transformed
// into the net's input, forward, backward, solver step; with a progress bar that shows the
// running loss and accuracy, and a history for training curves. Reproducible for a seed and a
// thread count.

#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "deephash/core/progress.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/sources/memory_source.hpp"
#include "deephash/data/transform.hpp"
#include "deephash/nn/training_batches.hpp"
#include "deephash/nn/solver.hpp"

namespace deephash::nn {

struct TrainOptions {
  int batch_size = 64;
  TransformSpec transform;
  std::uint64_t seed = 1;
  std::string data_blob = "data", label_blob = "label";
  std::string accuracy_blob;  // a top holding training accuracy, if the net computes one
  bool show_progress = true;
  unsigned decode_workers = 1;  // threads decoding images ahead of the network
};

struct TrainingHistory {
  std::vector<int> iteration;
  std::vector<double> loss, accuracy, learning_rate;  // averaged over the iterations since the last entry
  double seconds = 0;
};

namespace detail {

// Writes `count` same-sized images transformed, image_at(i) the i-th, into `data` (count x
// channels x h x w floats), in parallel. Each sample draws from its own stream, seeded by (seed,
// its position in the batch), so the result does not depend on how the work is split.
template <class ImageAt>
void transform_batch(std::size_t count, const ImageAt& image_at, const TransformSpec& transform, bool train,
                     std::uint64_t seed, ThreadPool& pool, float* data) {
  if (count == 0) return;
  const ImageView first = image_at(0);
  const std::size_t per_image =
      std::size_t(first.channels) * transform.output_height(first.height) * transform.output_width(first.width);
  pool.parallel_for(count, [&](std::size_t i) {
    std::mt19937_64 rng(seed * 1000003 + i);
    transform_image(image_at(i), transform, train, &rng, data + i * per_image);
  });
}

// Reshapes `blob` and lets fill(float*) write its values: in place for float nets, through a
// float buffer for others.
template <class Scalar, class Fill>
void fill_blob(Blob<Scalar>& blob, std::vector<int> shape, const Fill& fill) {
  blob.reshape(std::move(shape));
  if constexpr (std::is_same<Scalar, float>::value) {
    fill(blob.data());
  } else {
    std::vector<float> buffer(blob.count());
    fill(buffer.data());
    std::copy(buffer.begin(), buffer.end(), blob.data());
  }
}

}  // namespace detail

// A training batch: images[rows], transformed, into `data` (rows x channels x h x w floats).
// `images` is the whole training set; its pixels are read in place.
inline void prepare_batch(const ImageBatchView& images, const std::vector<std::size_t>& rows, const TransformSpec& transform,
                          bool train, std::uint64_t seed, ThreadPool& pool, float* data) {
  detail::transform_batch(rows.size(), [&](std::size_t i) { return images[rows[i]]; }, transform, train, seed, pool, data);
}

// A test batch: every image of `images` in order, transformed without augmentation (what a
// frontend feeds its net).
inline void prepare_batch(const ImageBatchView& images, const TransformSpec& transform, ThreadPool& pool, float* data) {
  detail::transform_batch(images.count, [&](std::size_t i) { return images[i]; }, transform, false, 0, pool, data);
}

// labels[rows] as floats, the label blob's type.
inline void gather_labels(const std::vector<int>& labels, const std::vector<std::size_t>& rows, float* out) {
  for (std::size_t i = 0; i < rows.size(); ++i) out[i] = float(labels[rows[i]]);
}

// Fills the net's input blobs with a training batch: images[rows] and, when the net has
// `label_blob`, labels[rows].
template <class Scalar>
void load_batch(Net<Scalar>& net, const ImageBatchView& images, const std::vector<int>& labels,
                const std::vector<std::size_t>& rows, const TransformSpec& transform, bool train, std::uint64_t seed,
                ThreadPool& pool, const std::string& data_blob, const std::string& label_blob) {
  const int n = int(rows.size());
  detail::fill_blob(net.blob(data_blob),
                    {n, images.channels, transform.output_height(images.height), transform.output_width(images.width)},
                    [&](float* data) { prepare_batch(images, rows, transform, train, seed, pool, data); });
  if (!label_blob.empty() && net.has_blob(label_blob))
    detail::fill_blob(net.blob(label_blob), {n}, [&](float* out) { gather_labels(labels, rows, out); });
}

// Fills the net's input blob with a test batch: all of `images`, in order.
template <class Scalar>
void load_images(Net<Scalar>& net, const ImageBatchView& images, const TransformSpec& transform, ThreadPool& pool,
                 const std::string& data_blob) {
  detail::fill_blob(net.blob(data_blob),
                    {int(images.count), images.channels, transform.output_height(images.height),
                     transform.output_width(images.width)},
                    [&](float* data) { prepare_batch(images, transform, pool, data); });
}

// Mirrors every image of an N x C x H x W input blob (reverses its rows): after the test
// transformation's centred crop, the net's input for the mirror images.
template <class Scalar>
void mirror_images(Blob<Scalar>& blob) {
  const std::size_t width = std::size_t(blob.shape().back());
  for (Scalar* row = blob.data(); row < blob.data() + blob.count(); row += width) std::reverse(row, row + width);
}

// Running averages of the loss and accuracy, written into the history about 200 times per run
// and shown on the progress bar. Shared by the CPU and GPU training loops.
class TrainingLog {
 public:
  TrainingLog(const std::string& label, int first, int until, bool show_progress, bool with_accuracy)
      : progress_(label, std::size_t(std::max(0, until - first))), first_(first), until_(until),
        log_every_(std::max(1, (until - first) / 200)), show_(show_progress), with_accuracy_(with_accuracy),
        start_(std::chrono::steady_clock::now()) {}

  // After the solver step that made `iteration` the current one.
  void record(int iteration, double loss, double accuracy, double rate) {
    loss_sum_ += loss;
    acc_sum_ += accuracy;
    if (++since_ < log_every_ && iteration != until_) return;
    history_.iteration.push_back(iteration);
    history_.loss.push_back(loss_sum_ / since_);
    history_.accuracy.push_back(acc_sum_ / since_);
    history_.learning_rate.push_back(rate);
    char status[96];
    if (with_accuracy_)
      std::snprintf(status, sizeof status, "loss %.4f  acc %.3f  lr %.2g", loss_sum_ / since_, acc_sum_ / since_, rate);
    else
      std::snprintf(status, sizeof status, "loss %.4f  lr %.2g", loss_sum_ / since_, rate);
    if (show_) progress_.update(std::size_t(iteration - first_), status);
    loss_sum_ = acc_sum_ = 0;
    since_ = 0;
  }

  TrainingHistory finish() {
    if (show_) progress_.finish();
    history_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return history_;
  }

 private:
  ProgressBar progress_;
  int first_, until_, log_every_;
  bool show_, with_accuracy_;
  std::chrono::steady_clock::time_point start_;
  TrainingHistory history_;
  double loss_sum_ = 0, acc_sum_ = 0;
  int since_ = 0;
};

// One step on the batch in the net's input blobs: forward, backward, solver step, logged. The
// dropout masks derive from the seed and the iteration.
template <class Scalar>
void training_step(Net<Scalar>& net, SgdSolver<Scalar>& solver, const TrainOptions& options, ThreadPool& pool,
                   TrainingLog& log, const std::string& label) {
  const int it = solver.iteration();
  std::mt19937_64 dropout_rng(options.seed * 31 + std::uint64_t(it));
  const RunContext ctx{Phase::Train, &pool, &dropout_rng};
  const double loss = double(net.forward(ctx));
  if (!std::isfinite(loss))
    throw Error(label, "the loss became " + std::to_string(loss) + " at iteration " + std::to_string(it) +
                           " (learning rate " + std::to_string(solver.current_learning_rate()) + " too high?)");
  net.backward(ctx);
  const double rate = solver.current_learning_rate();
  solver.step();
  log.record(solver.iteration(), loss, options.accuracy_blob.empty() ? 0.0 : double(net.blob(options.accuracy_blob).data()[0]), rate);
}

// How the training images are decoded: the net's channels, and the transformation's resize
// done once at decoding (so that a batch holds images of one size).
inline DecodeOptions training_decode_options(const TransformSpec& transform, int channels) {
  DecodeOptions d;
  d.channels = channels;
  d.resize_height = transform.resize_height;
  d.resize_width = transform.resize_width;
  return d;
}

// Trains from the solver's current iteration up to `until` on every image of `train_set`
// (reshuffling every epoch; images decoded ahead of the network). Every random draw derives
// from options.seed and the iteration number: the same seed and thread count give the same
// weights, also across a snapshot and resume, and whatever the images were read from.
template <class Scalar>
TrainingHistory train(Net<Scalar>& net, SgdSolver<Scalar>& solver, const ImageSource& train_set,
                      const TrainOptions& options, int until, ThreadPool& pool,
                      const std::string& label = "train",
                      const std::function<void(int iteration)>& after_step = {}) {
  if (options.batch_size <= 0) throw Error(label, "batch size must be positive");
  const int channels = net.blob(options.data_blob).shape().size() > 1 ? net.blob(options.data_blob).shape()[1] : 0;
  TrainingBatches batches(train_set, options.seed, std::size_t(options.batch_size), solver.iteration(), until,
                          training_decode_options(options.transform, channels), options.decode_workers, label);
  TrainingLog log(label, solver.iteration(), until, options.show_progress, !options.accuracy_blob.empty());
  std::vector<std::size_t> rows(std::size_t(options.batch_size));
  std::iota(rows.begin(), rows.end(), std::size_t(0));
  while (solver.iteration() < until) {
    const int it = solver.iteration();
    const DecodedBatch& batch = batches.next();
    load_batch(net, batch.view(), batch.labels, rows, options.transform, true, options.seed + std::uint64_t(it) * 7919, pool,
               options.data_blob, options.label_blob);
    training_step(net, solver, options, pool, log, label);
    if (after_step) after_step(solver.iteration());
  }
  return log.finish();
}

// The same over images in memory.
template <class Scalar>
TrainingHistory train(Net<Scalar>& net, SgdSolver<Scalar>& solver, const ImageDataset& train_set,
                      const TrainOptions& options, int until, ThreadPool& pool,
                      const std::string& label = "train",
                      const std::function<void(int iteration)>& after_step = {}) {
  return train(net, solver, MemorySource(train_set), options, until, pool, label, after_step);
}

}  // namespace deephash::nn
