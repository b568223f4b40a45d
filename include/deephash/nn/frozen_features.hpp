#pragma once
// Training above a frozen backbone: the backbone's output for every training image is computed
// once, and the layers above train on those values, many epochs for the price of one pass of the
// backbone. Each image is kept twice, as it is and mirrored, so that mirroring stays an
// augmentation; random crops and padding do not (they would need the backbone on every step):
// the images go through the test transformation's centred crop.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "deephash/core/progress.hpp"
#include "deephash/data/batch_stream.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/nn/trainer.hpp"

namespace deephash::nn {

struct FrozenFeatures {
  std::vector<int> item_shape;  // one image's values, e.g. {4096} or {256, 6, 6}
  std::size_t item_size = 0;    // their count
  std::vector<float> values;    // image i's view v (0: as it is, 1: mirrored) at (2 i + v) * item_size
  std::vector<int> labels;

  std::size_t size() const { return labels.size(); }
  const float* item(std::size_t i, int view) const { return values.data() + (2 * i + std::size_t(view)) * item_size; }
};

namespace detail {

// One view's values into f.values at `row` (image i's view v is row 2i + v), refused unless finite.
template <class Describe>
void store_item(const float* from, FrozenFeatures& f, std::size_t row, const Describe& describe, const std::string& label) {
  for (std::size_t k = 0; k < f.item_size; ++k)
    if (!std::isfinite(from[k])) throw Error(label, describe());
  std::copy(from, from + f.item_size, f.values.data() + row * f.item_size);
}

// Data-parallel, every rank filled its slice of f.values (zero elsewhere): the group agrees that
// none failed, then sums, so that every rank holds all the values.
inline void share_slices(FrozenFeatures& f, Collective* group, const std::string& problem, const std::string& label) {
  if (!group) return;
  group->agree(label, problem);
  group->allreduce_sum(f.values.data(), f.values.size());
}

}  // namespace detail

// Runs `below` (a test-phase net from `input_blob` to `output_blob`) over every image of
// `images`, transformed without augmentation, and over its mirror image.
//
// Data-parallel (`group`, the ranks of a training job): each rank runs its slice of the images
// (slice_of) and the group sums the values, zero outside each slice (x + 0 is x), so that every
// rank ends with all of them, in a rank's share of the time: the values one process computes,
// bit for bit where every slice starts a batch, else within float rounding of the batches'
// matrix products (an image's batch holds other images). With `bf16_products` the products
// round their operands to bfloat16 as training's do (RunContext::bf16_products): the values are
// training data, and the part above learns on them what it would on full-precision ones.
inline FrozenFeatures compute_frozen_features(Net<float>& below, const ImageSource& images, const TransformSpec& transform,
                                              const std::string& input_blob, const std::string& output_blob,
                                              std::size_t batch, ThreadPool& pool, bool show_progress,
                                              const std::string& label = "frozen layers", Collective* group = nullptr,
                                              bool bf16_products = false) {
  if (images.size() == 0) throw Error(label, "the training set is empty");
  const int rank = group ? group->rank() : 0;
  const auto [first, last] = slice_of(images.size(), rank, group ? group->size() : 1);
  const std::vector<int>& input_shape = below.blob(input_blob).shape();
  const int channels = input_shape.size() > 1 ? input_shape[1] : 3;
  const Blob<float>& out = below.blob(output_blob);  // shaped when the net was built
  FrozenFeatures f;
  f.item_shape.assign(out.shape().begin() + 1, out.shape().end());
  f.item_size = out.count_from(1);
  f.values.assign(2 * images.size() * f.item_size, 0.0f);
  f.labels = images.labels();
  std::string problem;  // one rank's, shared with the group before the sum
  try {
    std::vector<std::size_t> order(last - first);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = first + i;
    BatchStream stream(images, std::move(order), batch, training_decode_options(transform, channels), 1, 4);
    ProgressBar progress(label, last - first);
    show_progress = show_progress && rank == 0;  // rank 0's bar stands for all: slices are equal
    DecodedBatch decoded;
    std::size_t done = first;
    while (stream.next(decoded)) {
      const ImageBatchView view = decoded.view();
      load_images(below, view, transform, pool, input_blob);
      for (int mirrored = 0; mirrored < 2; ++mirrored) {
        if (mirrored) mirror_images(below.blob(input_blob));
        below.forward(RunContext{Phase::Test, &pool, nullptr, nullptr, 0, bf16_products});
        for (std::size_t i = 0; i < view.count; ++i)
          detail::store_item(out.data() + i * f.item_size, f, 2 * (done + i) + std::size_t(mirrored), [&] {
            return "blob '" + output_blob + "' is not finite for image " + std::to_string(done + i) + " (" +
                   images.locator(done + i) + ")";
          }, label);
      }
      done += view.count;
      if (show_progress) progress.update(done - first);
    }
    if (show_progress) progress.finish();
  } catch (const std::exception& e) {
    if (!group) throw;
    problem = e.what();
  }
  detail::share_slices(f, group, problem, label);
  return f;
}

// The values of `output_blob` for both views of every item of `in` (values of `input_blob`,
// computed below it), from `middle`, a test-phase net between the two blobs: what a pass over the
// images would give, for the price of the layers between. Frozen values at one blob serve the
// layers trained above a higher one (recipe.hpp: shorter codes on a longer one's features).
// Data-parallel (`group`), as compute_frozen_features: each rank its slice, the group the sum.
inline FrozenFeatures propagate_frozen_features(Net<float>& middle, const FrozenFeatures& in, const std::string& input_blob,
                                                const std::string& output_blob, std::size_t batch, ThreadPool& pool,
                                                const std::string& label = "frozen layers", Collective* group = nullptr,
                                                bool bf16_products = false) {
  if (in.size() == 0) throw Error(label, "the training set is empty");
  const auto [first, last] = slice_of(in.size(), group ? group->rank() : 0, group ? group->size() : 1);
  const Blob<float>& out = middle.blob(output_blob);
  FrozenFeatures f;
  f.item_shape.assign(out.shape().begin() + 1, out.shape().end());
  f.item_size = out.count_from(1);
  f.values.assign(2 * in.size() * f.item_size, 0.0f);
  f.labels = in.labels;
  std::vector<int> shape = {0};
  shape.insert(shape.end(), in.item_shape.begin(), in.item_shape.end());
  std::string problem;
  try {
    // Both views of image i are rows 2i and 2i+1: a slice of images is one run of rows.
    for (std::size_t row = 2 * first; row < 2 * last; row += batch) {
      const std::size_t n = std::min(batch, 2 * last - row);
      shape[0] = int(n);
      detail::fill_blob(middle.blob(input_blob), shape, [&](float* data) {
        std::copy(in.values.data() + row * in.item_size, in.values.data() + (row + n) * in.item_size, data);
      });
      middle.forward(RunContext{Phase::Test, &pool, nullptr, nullptr, 0, bf16_products});
      for (std::size_t i = 0; i < n; ++i)
        detail::store_item(out.data() + i * f.item_size, f, row + i, [&] {
          return "blob '" + output_blob + "' is not finite for training image " + std::to_string((row + i) / 2);
        }, label);
    }
  } catch (const std::exception& e) {
    if (!group) throw;
    problem = e.what();
  }
  detail::share_slices(f, group, problem, label);
  return f;
}

// Trains `above` (whose input blob options.data_blob takes the frozen values) from the solver's
// current iteration up to `until`: the batches of the image training loop (the same per-epoch
// shuffles), each item as it is or mirrored: by a draw from (seed, iteration, position), or in
// every other epoch under Mirror::alternating (options.transform.mirror).
//
// Data-parallel (options.collective): as nn::train, every rank holds all the values and trains
// on its slice of every global batch (`above`'s batch is the slice), with synchronised batch
// norm and the gradients' mean over the ranks; every rank ends with the same weights.
template <class Scalar>
TrainingHistory train_on_features(Net<Scalar>& above, SgdSolver<Scalar>& solver, const FrozenFeatures& features,
                                  const TrainOptions& options, int until, ThreadPool& pool,
                                  const std::string& label = "train",
                                  const std::function<void(int iteration)>& after_step = {}) {
  Collective* group = options.collective;
  const std::size_t slice = detail::rank_share(options.batch_size, group, label);
  const int rank = group ? group->rank() : 0;
  const std::size_t first_sample = std::size_t(rank) * slice;
  if (features.size() == 0) throw Error(label, "the training set is empty");
  const std::size_t batch = std::size_t(options.batch_size);
  std::vector<std::size_t> rows(batch), order;
  std::vector<int> views(batch);
  std::vector<std::uint8_t> flips;
  std::size_t order_epoch = std::size_t(-1);
  std::vector<int> shape = {int(slice)};
  shape.insert(shape.end(), features.item_shape.begin(), features.item_shape.end());
  std::optional<GradientBuckets<Scalar>> buckets;
  if (group) {
    detail::start_alike(above, solver, *group, label);
    buckets.emplace(above, *group, options.gradient_bucket_bytes);
  }
  TrainingLog log(label, solver.iteration(), until, options.show_progress && rank == 0,
                  !options.accuracy_blob.empty(), options.on_step);
  while (solver.iteration() < until) {
    const int it = solver.iteration();
    batch_rows(features.size(), options.seed, it, rows, order, order_epoch);
    // Drawn for the whole global batch on every rank, so that a sample's view follows its position.
    std::mt19937_64 rng(options.seed * 1000003 + std::uint64_t(it));
    const std::vector<std::uint8_t>* alternate =
        alternating_flips(options.transform, rows, options.seed, it, options.batch_size, 0, features.size(), flips);
    for (std::size_t b = 0; b < batch; ++b) views[b] = alternate ? int((*alternate)[b]) : int(rng() & 1);
    const std::vector<std::size_t> mine(rows.begin() + std::ptrdiff_t(first_sample), rows.begin() + std::ptrdiff_t(first_sample + slice));
    detail::fill_blob(above.blob(options.data_blob), shape, [&](float* data) {
      for (std::size_t b = 0; b < slice; ++b) {
        const float* from = features.item(mine[b], views[first_sample + b]);
        std::copy(from, from + features.item_size, data + b * features.item_size);
      }
    });
    if (above.has_blob(options.label_blob))
      detail::fill_blob(above.blob(options.label_blob), {int(slice)},
                        [&](float* out) { gather_labels(features.labels, mine, out); });
    training_step(above, solver, options, pool, log, label, first_sample, buckets ? &*buckets : nullptr);
    if (after_step) after_step(solver.iteration());
  }
  return log.finish();
}

}  // namespace deephash::nn
