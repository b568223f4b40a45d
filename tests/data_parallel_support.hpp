#pragma once
// What the data-parallel tests share (the thread-group test under doctest, the MPI test under
// mpirun): two small nets, one with batch norm and one with dropout and the SSDH losses, small
// training sets (the first Fashion-MNIST training images; generated images), a training run at a
// global batch and seed, and the comparison of two runs.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "deephash/core/collective.hpp"
#include "deephash/data/idx.hpp"
#include "deephash/data/sources/memory_source.hpp"
#include "deephash/nn/hashing_model.hpp"
#include "deephash/nn/net_builder.hpp"
#include "deephash/nn/trainer.hpp"

namespace deephash::test {

// conv-BN-ReLU-pool twice, fc-BN-ReLU, latent layer and classifier, for 28x28 gray images: every
// batch-norm layer couples the samples of a batch.
inline nn::NetSpec batch_norm_net(int batch) {
  nn::NetBuilder b("data_parallel_bn");
  auto x = b.input("data", {batch, 1, 28, 28});
  b.input("label", {batch});
  x = b.relu(b.batch_norm(b.convolution("conv1", x, 8, 3, 1, 1, 1, nn::msra_filler(), false)));
  x = b.max_pool("pool1", x, 2, 2);
  x = b.relu(b.batch_norm(b.convolution("conv2", x, 16, 3, 1, 1, 1, nn::msra_filler(), false)));
  x = b.max_pool("pool2", x, 2, 2);
  x = b.relu(b.batch_norm(b.inner_product("fc1", x, 32, nn::msra_filler(), false)));
  b.latent("latent", x, 12);
  b.inner_product("scores", "latent", 10, nn::xavier_filler());
  b.softmax_loss("loss", "scores", "label");
  b.accuracy("accuracy", "scores", "label");
  return b.spec();
}

// Two dropout layers (each must draw its own masks) and the latent layer's SSDH losses, whose
// batch means must split over ranks like the classification loss.
inline nn::NetSpec dropout_net(int batch) {
  nn::NetBuilder b("data_parallel_dropout");
  auto x = b.input("data", {batch, 1, 28, 28});
  b.input("label", {batch});
  x = b.dropout(b.relu(b.inner_product("fc1", x, 64)), 0.5f);
  x = b.dropout(b.relu(b.inner_product("fc2", x, 32)), 0.3f);
  b.latent("latent", x, 16, 0.1f, 0.1f);
  b.inner_product("scores", "latent", 10, nn::xavier_filler());
  b.softmax_loss("loss", "scores", "label");
  b.accuracy("accuracy", "scores", "label");
  return b.spec();
}

// The first `count` Fashion-MNIST training images, or an empty set where the dataset is not
// installed (the caller reports the test as skipped).
inline ImageDataset fashion_mnist_training_set(std::size_t count) {
  const std::string dir = default_fashion_mnist_dir();
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) return {};
  ImageDataset all = load_fashion_mnist(dir, "train");
  std::vector<std::size_t> rows(std::min(count, all.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  return all.subset(rows);
}

// `count` generated 28x28 images of 10 classes: a class is a bright band at its own rows, plus
// noise.
inline ImageDataset generated_training_set(std::size_t count) {
  ImageDataset d;
  d.height = d.width = 28;
  d.channels = 1;
  for (int c = 0; c < 10; ++c) d.class_names.push_back("class" + std::to_string(c));
  std::mt19937_64 rng(11);
  for (std::size_t i = 0; i < count; ++i) {
    const int label = int(i % 10);
    d.labels.push_back(label);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const bool band = y >= 2 + 2 * label && y < 6 + 2 * label;
        d.pixels.push_back(std::uint8_t((band ? 150 : 20) + int(rng() % 80)));
      }
  }
  return d;
}

// The Fashion-MNIST preset's augmentation: random shifts of up to 2 pixels and mirror images.
inline TransformSpec augmenting_transform() {
  TransformSpec t;
  t.crop = 28;
  t.pad = 2;
  t.mirror = Mirror::random;
  t.mean_values = {72};
  t.scale = 1 / 90.0f;
  return t;
}

struct TrainingRun {
  std::vector<double> loss, accuracy;  // per iteration
  std::vector<nn::LayerWeights> weights;
  double seconds = 0;
};

// `iterations` steps of SGD at global batch `batch` from the net's seeded initialisation: alone
// (group null) or as one rank of `group`, on `threads` threads, in float (as deephash trains) or
// double (where rounding differences stay too small to grow).
template <class Scalar = float>
TrainingRun train_small(const nn::NetSpec& spec, const ImageDataset& images, int batch, int iterations, Collective* group,
                        unsigned threads = 1, std::uint64_t seed = 3) {
  nn::Net<Scalar> net(spec, nn::Phase::Train, nn::NetOptions::seeded(seed));
  nn::SolverSpec s;
  s.base_lr = 0.05f;
  s.momentum = 0.9f;
  s.weight_decay = 5e-4f;
  nn::SgdSolver<Scalar> solver(net, s);
  nn::TrainOptions o;
  o.batch_size = batch;
  o.seed = seed;
  o.transform = augmenting_transform();
  o.accuracy_blob = "accuracy";
  o.show_progress = false;
  o.collective = group;
  ThreadPool pool(threads);
  const MemorySource source(images);
  const nn::TrainingHistory h = nn::train(net, solver, source, o, iterations, pool, "data-parallel test");
  return {h.loss, h.accuracy, net.weights(), h.seconds};
}

// How many iterations R ranks' run of the first 600 Fashion-MNIST images (global batch 12) is
// compared with one process's for, and how far apart they may be, relative: losses per
// iteration, weights per blob in Euclidean norm. Ten times or more what was measured; the
// measurements are in test_data_parallel.cpp. The batch-norm net in float is compared over its
// first 30 iterations only: past some 60 a last-bit difference tips a kink (a max-pool near-tie,
// a ReLU at 0) and SGD amplifies it, at an iteration that varies with the CPU's rounding (on one
// CI machine the one-process curve itself ended elsewhere). The same net in double runs 100.
template <class Scalar>
int iterations(const nn::NetSpec& spec) {
  return std::is_same<Scalar, float>::value && spec.name == batch_norm_net(1).name ? 30 : 100;
}
struct Tolerance {
  double loss, weights;
};
template <class Scalar>
Tolerance tolerance(const nn::NetSpec& spec) {
  const bool batch_norm = spec.name == batch_norm_net(1).name;
  // Double: weights compared after rounding to float (net.weights()), measured bit for bit; 1e-7
  // lets one of them round the other way.
  if (std::is_same<Scalar, double>::value) return Tolerance{4e-14, 1e-7};
  return batch_norm ? Tolerance{1e-5, 1e-4} : Tolerance{5e-5, 2e-4};
}

struct RunDifference {
  double loss = 0;     // the largest |a - b| / |b| over the iterations' losses
  double weights = 0;  // the largest |a - b| / |b| over the parameter blobs (Euclidean norms)
  bool weights_identical = true;
};

inline RunDifference difference(const TrainingRun& a, const TrainingRun& reference) {
  RunDifference d;
  if (a.loss.size() != reference.loss.size() || a.weights.size() != reference.weights.size()) {
    d.loss = d.weights = INFINITY;
    d.weights_identical = false;
    return d;
  }
  for (std::size_t i = 0; i < a.loss.size(); ++i)
    d.loss = std::max(d.loss, std::abs(a.loss[i] - reference.loss[i]) / std::abs(reference.loss[i]));
  for (std::size_t l = 0; l < a.weights.size(); ++l)
    for (std::size_t b = 0; b < a.weights[l].blobs.size(); ++b) {
      const std::vector<float>&x = a.weights[l].blobs[b].data, &y = reference.weights[l].blobs[b].data;
      if (x.size() != y.size()) {
        d.weights = INFINITY;
        d.weights_identical = false;
        continue;
      }
      double norm = 0, off = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        norm += double(y[i]) * y[i];
        off += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
      }
      if (norm > 0) d.weights = std::max(d.weights, std::sqrt(off / norm));
      d.weights_identical = d.weights_identical && x == y;
    }
  return d;
}

// The largest difference between `mine` and `theirs`, relative to the largest value of
// `theirs` (0 when all of theirs are 0; infinite when their sizes differ).
inline double relative_off(const std::vector<float>& mine, const std::vector<float>& theirs) {
  if (mine.size() != theirs.size()) return INFINITY;
  double largest = 0, d = 0;
  for (std::size_t i = 0; i < theirs.size(); ++i) {
    largest = std::max(largest, double(std::abs(theirs[i])));
    d = std::max(d, double(std::abs(mine[i] - theirs[i])));
  }
  return largest > 0 ? d / largest : 0.0;
}

// The largest difference between two models' weights, relative to the largest weight of its
// blob in `one` (infinite when their layers or blobs differ in number).
inline double weights_off(const HashingModel& model, const HashingModel& one) {
  if (model.weights.size() != one.weights.size()) return INFINITY;
  double off = 0;
  for (std::size_t l = 0; l < one.weights.size(); ++l) {
    if (model.weights[l].blobs.size() != one.weights[l].blobs.size()) return INFINITY;
    for (std::size_t b = 0; b < one.weights[l].blobs.size(); ++b)
      off = std::max(off, relative_off(model.weights[l].blobs[b].data, one.weights[l].blobs[b].data));
  }
  return off;
}

}  // namespace deephash::test
