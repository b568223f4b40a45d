#pragma once
// The training loop: shuffled mini-batches of a labelled image set, augmented and transformed
// into the net's input, forward, backward, solver step; with a progress bar that shows the
// running loss and accuracy, and a history for training curves. Reproducible for a seed and a
// thread count.
//
// Data-parallel training (TrainOptions::collective, a group of R ranks, e.g. MPI processes): the
// batch size is the global batch B, and each rank decodes, transforms and runs only its slice,
// the B / R rows [r B / R, (r + 1) B / R) of every global batch. Everything random is keyed by a
// sample's global position (augmentation and dropout masks) or drawn alike on every rank, and
// batch norm sums its statistics over the group (nn/layers/batch_norm.hpp), so the ranks together
// compute the single-process forward pass of the global batch. The global mean loss is the mean
// over ranks of the slices' mean losses (the SSDH losses of the latent layer too: they are means
// over samples of per-sample terms), so its gradient is the mean over ranks of theirs: exchanged
// in buckets during backward (nn/gradient_allreduce.hpp); then every rank makes the same solver
// step on the same bits and the weights stay identical. The loss and accuracy logged are the
// means over ranks, the same curve on every rank; the progress bar shows on rank 0 only.

#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "deephash/core/collective.hpp"
#include "deephash/core/progress.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/sources/memory_source.hpp"
#include "deephash/data/transform.hpp"
#include "deephash/nn/gradient_allreduce.hpp"
#include "deephash/nn/training_batches.hpp"
#include "deephash/nn/solver.hpp"

namespace deephash::nn {

// Where a training run stands after a step: what a caller shows its own way (a notebook's bar, a
// log), or stops the run at by throwing from TrainOptions::on_step.
struct TrainingProgress {
  int iteration = 0, until = 0;  // steps done (the solver's iteration), and where the run ends
  bool logged = false;           // whether this step closed an entry of the history (about 200 per run)
  double loss = 0, accuracy = 0, learning_rate = 0;  // the entry's running means when logged, else this step's
  double seconds = 0;            // since the run started
};

struct TrainOptions {
  int batch_size = 64;
  TransformSpec transform;
  std::uint64_t seed = 1;
  std::string data_blob = "data", label_blob = "label";
  std::string accuracy_blob;  // a top holding training accuracy, if the net computes one
  bool show_progress = true;
  unsigned decode_workers = 1;  // threads decoding images ahead of the network
  // The group of ranks training together (see the top of this file); null: this process alone.
  // batch_size is then the global batch and must be a multiple of the group's size.
  Collective* collective = nullptr;
  std::size_t gradient_bucket_bytes = GradientBuckets<float>::default_bucket_bytes;
  // Convolutions multiply bfloat16-rounded operands with float sums where the CPU has AVX-512
  // BF16 (RunContext::bf16_products); the weights stay float.
  bool bf16_products = false;
  // Called after every step, on the training thread (data-parallel: on every rank); an exception
  // it throws ends the run and propagates to the caller.
  std::function<void(const TrainingProgress&)> on_step;
};

struct TrainingHistory {
  std::vector<int> iteration;
  std::vector<double> loss, accuracy, learning_rate;  // averaged over the iterations since the last entry
  double seconds = 0;
};

namespace detail {

// Writes `count` same-sized images transformed, image_at(i) the i-th, into `data` (count x
// channels x h x w floats), in parallel. Each sample draws from its own stream, seeded by (seed,
// its position in the global batch: first_sample + i), so the result depends neither on how the
// work is split over threads nor on how the batch is split over data-parallel ranks.
// `flips[i]`: sample i's flip under Mirror::alternating.
template <class ImageAt>
void transform_batch(std::size_t count, const ImageAt& image_at, const TransformSpec& transform, bool train,
                     std::uint64_t seed, ThreadPool& pool, float* data, std::size_t first_sample = 0,
                     const std::vector<std::uint8_t>* flips = nullptr) {
  if (count == 0) return;
  const ImageView first = image_at(0);
  const std::size_t per_image =
      std::size_t(first.channels) * transform.output_height(first.height) * transform.output_width(first.width);
  pool.parallel_for(count, [&](std::size_t i) {
    std::mt19937_64 rng(seed * 1000003 + first_sample + i);
    transform_image(image_at(i), transform, train, &rng, data + i * per_image, flips && (*flips)[i]);
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
// `images` is the whole training set; its pixels are read in place. rows[0] is sample
// `first_sample` of the global batch (a data-parallel rank's slice starts past 0); flips[i] is
// rows[i]'s flip under Mirror::alternating.
inline void prepare_batch(const ImageBatchView& images, const std::vector<std::size_t>& rows, const TransformSpec& transform,
                          bool train, std::uint64_t seed, ThreadPool& pool, float* data, std::size_t first_sample = 0,
                          const std::vector<std::uint8_t>* flips = nullptr) {
  detail::transform_batch(rows.size(), [&](std::size_t i) { return images[rows[i]]; }, transform, train, seed, pool, data,
                          first_sample, flips);
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

// The flips of training batch `iteration`'s decoded images under Mirror::alternating, into
// `flips`; null for other mirroring. items[i] is sample first_sample + i of the global batch,
// and an epoch is every `images` samples.
inline const std::vector<std::uint8_t>* alternating_flips(const TransformSpec& transform, const std::vector<std::size_t>& items,
                                                          std::uint64_t seed, int iteration, int batch_size,
                                                          std::size_t first_sample, std::size_t images,
                                                          std::vector<std::uint8_t>& flips) {
  if (transform.mirror != Mirror::alternating) return nullptr;
  const std::size_t first = std::size_t(iteration) * std::size_t(batch_size) + first_sample;
  flips.resize(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) flips[i] = alternating_flip(seed, items[i], (first + i) / images);
  return &flips;
}

// Fills the net's input blobs with a training batch: images[rows] and, when the net has
// `label_blob`, labels[rows]; rows[0] is sample `first_sample` of the global batch.
template <class Scalar>
void load_batch(Net<Scalar>& net, const ImageBatchView& images, const std::vector<int>& labels,
                const std::vector<std::size_t>& rows, const TransformSpec& transform, bool train, std::uint64_t seed,
                ThreadPool& pool, const std::string& data_blob, const std::string& label_blob, std::size_t first_sample = 0,
                const std::vector<std::uint8_t>* flips = nullptr) {
  const int n = int(rows.size());
  detail::fill_blob(net.blob(data_blob),
                    {n, images.channels, transform.output_height(images.height), transform.output_width(images.width)},
                    [&](float* data) { prepare_batch(images, rows, transform, train, seed, pool, data, first_sample, flips); });
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

// Shifts every image of an N x C x H x W input blob by (dy, dx) pixels: pixel (y, x) takes the
// value of (y + dy, x + dx), or fill[c] where that lies outside the image.
template <class Scalar>
void shift_images(Blob<Scalar>& blob, int dy, int dx, const std::vector<float>& fill) {
  const int channels = blob.shape(1), h = blob.shape(2), w = blob.shape(3);
  if (fill.size() != std::size_t(channels))
    throw Error("shift_images", std::to_string(fill.size()) + " fill values for " + std::to_string(channels) + " channels");
  std::vector<Scalar> source(std::size_t(h) * w);
  for (Scalar* plane = blob.data(); plane < blob.data() + blob.count(); plane += source.size()) {
    const Scalar f = Scalar(fill[std::size_t((plane - blob.data()) / std::ptrdiff_t(source.size()) % channels)]);
    std::copy(plane, plane + source.size(), source.begin());
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const int sy = y + dy, sx = x + dx;
        plane[std::size_t(y) * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? source[std::size_t(sy) * w + sx] : f;
      }
  }
}

// Running averages of the loss and accuracy, written into the history about 200 times per run
// and shown on the progress bar. Shared by the CPU and GPU training loops.
class TrainingLog {
 public:
  TrainingLog(const std::string& label, int first, int until, bool show_progress, bool with_accuracy,
              std::function<void(const TrainingProgress&)> on_step = {})
      : progress_(label, std::size_t(std::max(0, until - first))), first_(first), until_(until),
        log_every_(std::max(1, (until - first) / 200)), show_(show_progress), with_accuracy_(with_accuracy),
        on_step_(std::move(on_step)), start_(std::chrono::steady_clock::now()) {}

  // After the solver step that made `iteration` the current one.
  void record(int iteration, double loss, double accuracy, double rate) {
    loss_sum_ += loss;
    acc_sum_ += accuracy;
    TrainingProgress p{iteration, until_, false, loss, accuracy, rate, 0};
    if (++since_ >= log_every_ || iteration == until_) {
      p.logged = true;
      p.loss = loss_sum_ / since_;
      p.accuracy = acc_sum_ / since_;
      history_.iteration.push_back(iteration);
      history_.loss.push_back(p.loss);
      history_.accuracy.push_back(p.accuracy);
      history_.learning_rate.push_back(rate);
      char status[96];
      if (with_accuracy_)
        std::snprintf(status, sizeof status, "loss %.4f  acc %.3f  lr %.2g", p.loss, p.accuracy, rate);
      else
        std::snprintf(status, sizeof status, "loss %.4f  lr %.2g", p.loss, rate);
      if (show_) progress_.update(std::size_t(iteration - first_), status);
      loss_sum_ = acc_sum_ = 0;
      since_ = 0;
    }
    if (on_step_) {
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      on_step_(p);
    }
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
  std::function<void(const TrainingProgress&)> on_step_;
  std::chrono::steady_clock::time_point start_;
  TrainingHistory history_;
  double loss_sum_ = 0, acc_sum_ = 0;
  int since_ = 0;
};

// One step on the batch in the net's input blobs: forward, backward, solver step, logged. The
// dropout masks derive from the seed, the iteration and each sample's global position (the
// batch's first sample is `first_sample` of the global batch).
//
// With options.collective the net's batch is this rank's slice: batch norm is synchronised, the
// gradients are exchanged through `buckets` (made here for the step when null) and the loss and
// accuracy are averaged over the ranks. Every rank must call it, for the same iteration.
template <class Scalar>
void training_step(Net<Scalar>& net, SgdSolver<Scalar>& solver, const TrainOptions& options, ThreadPool& pool,
                   TrainingLog& log, const std::string& label, std::size_t first_sample = 0,
                   GradientBuckets<Scalar>* buckets = nullptr) {
  const int it = solver.iteration();
  // Seeded alike on every rank: dropout layers draw the same bases (see DropoutLayer).
  std::mt19937_64 dropout_rng(options.seed * 31 + std::uint64_t(it));
  const RunContext ctx{Phase::Train, &pool, &dropout_rng, options.collective, first_sample, options.bf16_products};
  double measured[2] = {double(net.forward(ctx)),
                        options.accuracy_blob.empty() ? 0.0 : double(net.blob(options.accuracy_blob).data()[0])};
  if (options.collective) {
    // The ranks' slices are of one size: the global batch's means are the means of theirs. A loss
    // that is not finite on one rank is not finite in the sum: every rank stops together.
    options.collective->allreduce_sum(measured, 2);
    for (double& m : measured) m /= double(options.collective->size());
  }
  const double loss = measured[0];
  if (!std::isfinite(loss))
    throw Error(label, "the loss became " + std::to_string(loss) + " at iteration " + std::to_string(it) +
                           " (learning rate " + std::to_string(solver.current_learning_rate()) + " too high?)");
  if (options.collective) {
    std::optional<GradientBuckets<Scalar>> own;
    if (!buckets) buckets = &own.emplace(net, *options.collective, options.gradient_bucket_bytes);
    net.backward(ctx, buckets->hook());
    buckets->finish();
  } else {
    net.backward(ctx);
  }
  const double rate = solver.current_learning_rate();
  solver.step();
  log.record(solver.iteration(), loss, measured[1], rate);
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

namespace detail {
// A rank's share of every global batch of `batch` samples over the group (all of it without
// one): refused, saying what would split, when the ranks cannot have equal shares.
inline std::size_t rank_share(int batch, const Collective* group, const std::string& label) {
  const int ranks = group ? group->size() : 1;
  if (batch <= 0) throw Error(label, "batch size must be positive");
  if (batch % ranks != 0)
    throw Error(label, "the batch of " + std::to_string(batch) + " images does not split evenly over " +
                           std::to_string(ranks) + " ranks: make it a multiple of " + std::to_string(ranks));
  return std::size_t(batch / ranks);
}

// Data-parallel training starts from rank 0's weights, batch-norm statistics and momentum on
// every rank, whatever each rank loaded or initialised: a broadcast made of the one exchange the
// group has (every other rank adds zeros, which keeps every value; a -0 becomes +0). First every
// rank checks that it has rank 0's number of parameter values and iteration (all stop if one
// has not).
template <class Scalar>
void start_alike(Net<Scalar>& net, SgdSolver<Scalar>& solver, Collective& group, const std::string& label) {
  const bool root = group.rank() == 0;
  double values = 0;
  for (std::size_t i = 0; i < net.num_layers(); ++i)
    for (auto& p : net.layer(i).params()) values += double(p->count());
  const double iteration = double(solver.iteration());
  double roots[2] = {root ? values : 0.0, root ? iteration : 0.0};  // rank 0's, once summed
  group.allreduce_sum(roots, 2);
  std::string problem;
  if (values != roots[0])
    problem = "its net has " + std::to_string(std::int64_t(values)) + " parameter values, rank 0's " +
              std::to_string(std::int64_t(roots[0]));
  else if (iteration != roots[1])
    problem = "it starts at iteration " + std::to_string(solver.iteration()) + ", rank 0 at " + std::to_string(std::int64_t(roots[1]));
  group.agree(label, problem);
  for (std::size_t i = 0; i < net.num_layers(); ++i)
    for (auto& p : net.layer(i).params()) {
      if (!root) p->zero_data();
      group.allreduce_sum(p->data(), p->count());
    }
  std::vector<std::vector<Scalar>> history = solver.history();
  for (auto& h : history) {
    if (!root) std::fill(h.begin(), h.end(), Scalar(0));
    group.allreduce_sum(h.data(), h.size());
  }
  solver.restore(solver.iteration(), history);
}
}  // namespace detail

// Trains from the solver's current iteration up to `until` on every image of `train_set`
// (reshuffling every epoch; images decoded ahead of the network). Every random draw derives
// from options.seed and the iteration number: the same seed and thread count give the same
// weights, also across a snapshot and resume, and whatever the images were read from.
//
// With options.collective every rank of the group calls it, with the same net, solver, options
// and set: each trains on its slice of every global batch (see the top of this file) and ends
// with the same weights; after_step runs on every rank (write files from one).
template <class Scalar>
TrainingHistory train(Net<Scalar>& net, SgdSolver<Scalar>& solver, const ImageSource& train_set,
                      const TrainOptions& options, int until, ThreadPool& pool,
                      const std::string& label = "train",
                      const std::function<void(int iteration)>& after_step = {}) {
  Collective* group = options.collective;
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const std::size_t slice = detail::rank_share(options.batch_size, group, label), first_sample = std::size_t(rank) * slice;
  const int channels = net.blob(options.data_blob).shape().size() > 1 ? net.blob(options.data_blob).shape()[1] : 0;
  TrainingBatches batches(train_set, options.seed, std::size_t(options.batch_size), solver.iteration(), until,
                          training_decode_options(options.transform, channels), options.decode_workers, label, rank, ranks);
  std::optional<GradientBuckets<Scalar>> buckets;
  if (group) {
    detail::start_alike(net, solver, *group, label);
    buckets.emplace(net, *group, options.gradient_bucket_bytes);
  }
  TrainingLog log(label, solver.iteration(), until, options.show_progress && rank == 0, !options.accuracy_blob.empty(),
                  options.on_step);
  std::vector<std::size_t> rows(slice);
  std::iota(rows.begin(), rows.end(), std::size_t(0));
  std::vector<std::uint8_t> flips;
  while (solver.iteration() < until) {
    const int it = solver.iteration();
    auto load = [&] {
      const DecodedBatch& batch = batches.next();
      load_batch(net, batch.view(), batch.labels, rows, options.transform, true, options.seed + std::uint64_t(it) * 7919, pool,
                 options.data_blob, options.label_blob, first_sample,
                 alternating_flips(options.transform, batch.items, options.seed, it, options.batch_size, first_sample,
                                   train_set.size(), flips));
    };
    if (!group) {
      load();
    } else {
      // An image that fails to decode is one rank's: all stop with its message rather than wait.
      std::string problem;
      try {
        load();
      } catch (const std::exception& e) {
        problem = e.what();
      }
      group->agree(label + ", iteration " + std::to_string(it), problem);
    }
    training_step(net, solver, options, pool, log, label, first_sample, buckets ? &*buckets : nullptr);
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
