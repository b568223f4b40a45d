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
#include <vector>

#include "deephash/core/progress.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/transform.hpp"
#include "deephash/nn/solver.hpp"

namespace deephash::nn {

struct TrainOptions {
  int batch_size = 64;
  TransformSpec transform;
  std::uint64_t seed = 1;
  std::string data_blob = "data", label_blob = "label";
  std::string accuracy_blob;  // a top holding training accuracy, if the net computes one
  bool show_progress = true;
};

struct TrainingHistory {
  std::vector<int> iteration;
  std::vector<double> loss, accuracy, learning_rate;  // averaged over the iterations since the last entry
  double seconds = 0;
};

// Fills the input blobs with images[rows] (transformed) and their labels, in parallel.
template <class Scalar>
void load_batch(Net<Scalar>& net, const ImageDataset& images, const std::vector<std::size_t>& rows,
                const TransformSpec& transform, bool train, std::uint64_t seed, ThreadPool& pool,
                const std::string& data_blob, const std::string& label_blob) {
  const int n = int(rows.size());
  const int h = transform.output_height(images.height), w = transform.output_width(images.width);
  Blob<Scalar>& data = net.blob(data_blob);
  data.reshape({n, images.channels, h, w});
  std::vector<float> buffer;
  const std::size_t per_image = std::size_t(images.channels) * h * w;
  pool.parallel_for(std::size_t(n), [&](std::size_t i) {
    std::mt19937_64 rng(seed * 1000003 + i);  // one stream per sample: independent of the thread split
    std::vector<float> out(per_image);
    transform_image(images.image(rows[i]), images.height, images.width, images.channels, transform, train, &rng, out.data());
    std::copy(out.begin(), out.end(), data.data() + i * per_image);
  });
  if (!label_blob.empty() && net.has_blob(label_blob)) {
    Blob<Scalar>& labels = net.blob(label_blob);
    labels.reshape({n});
    for (int i = 0; i < n; ++i) labels.data()[i] = Scalar(images.labels[rows[std::size_t(i)]]);
  }
}

// The order of the training samples in an epoch: a permutation drawn from (seed, epoch) alone,
// so that a run resumed from a snapshot at any iteration continues exactly as it would have.
inline std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::size_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1)));
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

// Trains from the solver's current iteration up to `until` (reshuffling every epoch). Every
// random draw derives from options.seed and the iteration number: the same seed and thread
// count give the same weights, also across a snapshot and resume.
template <class Scalar>
TrainingHistory train(Net<Scalar>& net, SgdSolver<Scalar>& solver, const ImageDataset& train_set,
                      const TrainOptions& options, int until, ThreadPool& pool,
                      const std::string& label = "train",
                      const std::function<void(int iteration)>& after_step = {}) {
  if (train_set.size() == 0) throw Error(label, "the training set is empty");
  if (options.batch_size <= 0) throw Error(label, "batch size must be positive");
  const std::size_t n = train_set.size(), batch = std::size_t(options.batch_size);
  TrainingHistory history;
  const auto start = std::chrono::steady_clock::now();
  const int first = solver.iteration();
  ProgressBar progress(label, std::size_t(std::max(0, until - first)));
  double loss_sum = 0, acc_sum = 0;
  int since = 0;
  const int log_every = std::max(1, (until - first) / 200);
  std::vector<std::size_t> rows(batch), order;
  std::size_t order_epoch = std::size_t(-1);
  while (solver.iteration() < until) {
    const int it = solver.iteration();
    for (std::size_t b = 0; b < batch; ++b) {
      const std::size_t sample = std::size_t(it) * batch + b, epoch = sample / n;
      if (epoch != order_epoch) {
        order = epoch_order(n, options.seed, epoch);
        order_epoch = epoch;
      }
      rows[b] = order[sample % n];
    }
    load_batch(net, train_set, rows, options.transform, true, options.seed + std::uint64_t(it) * 7919, pool,
               options.data_blob, options.label_blob);
    std::mt19937_64 dropout_rng(options.seed * 31 + std::uint64_t(it));
    const RunContext ctx{Phase::Train, &pool, &dropout_rng};
    const double loss = double(net.forward(ctx));
    if (!std::isfinite(loss))
      throw Error(label, "the loss became " + std::to_string(loss) + " at iteration " + std::to_string(it) +
                             " (learning rate " + std::to_string(solver.current_learning_rate()) + " too high?)");
    net.backward(ctx);
    const double rate = solver.current_learning_rate();
    solver.step();
    loss_sum += loss;
    if (!options.accuracy_blob.empty()) acc_sum += double(net.blob(options.accuracy_blob).data()[0]);
    if (++since == log_every || solver.iteration() == until) {
      history.iteration.push_back(solver.iteration());
      history.loss.push_back(loss_sum / since);
      history.accuracy.push_back(acc_sum / since);
      history.learning_rate.push_back(rate);
      char status[96];
      if (options.accuracy_blob.empty())
        std::snprintf(status, sizeof status, "loss %.4f  lr %.2g", loss_sum / since, rate);
      else
        std::snprintf(status, sizeof status, "loss %.4f  acc %.3f  lr %.2g", loss_sum / since, acc_sum / since, rate);
      if (options.show_progress) progress.update(std::size_t(solver.iteration() - first), status);
      loss_sum = acc_sum = 0;
      since = 0;
    }
    if (after_step) after_step(solver.iteration());
  }
  if (options.show_progress) progress.finish();
  history.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return history;
}

}  // namespace deephash::nn
