#pragma once
// The gradient exchange of data-parallel training: after backward, every rank holds the gradient
// of its own slice's mean loss; the global batch's mean loss is the mean over ranks of those (the
// slices are of equal size), so each gradient becomes the sum over ranks divided by their number.
//
// The learnable parameters' gradients travel in buckets of about `bucket_bytes`: the parameters
// in the order backward finishes them (last layer first), packed one after the other and cut
// into buckets (a large parameter spans several). A bucket is started (Collective::
// start_allreduce_sum) as soon as backward has passed every layer owning a piece of it, by
// the hook Net::backward calls after each layer, and the collective is given a chance to progress
// after each later layer; finish() completes them all and writes the means back into the diffs.
// How much of the exchange overlaps the earlier layers' backward is the transport's: the
// Collective defaults sum at once (no overlap: buckets are exchanged one by one between layers),
// a transport with non-blocking sums (MPI_Iallreduce) runs them during the remaining layers as
// far as it progresses them (inside its calls, without a progress thread). Measured on 2 cores
// with Open MPI's shared memory (the Fashion-MNIST network, 2 ranks), the slower rank spends 2-4%
// of a step in the exchanges and the non-blocking sums gained nothing: the overlap pays where the exchange
// is slow (a network between nodes), which this machine could not show.
// Bucketing bounds the copies to one packed buffer per bucket and lets the first buckets (the
// top layers') go while the convolutions at the bottom, most of the work, still run.
//
// Parameters with lr_mult 0 (frozen layers, batch-norm statistics) are not exchanged: the solver
// does not use their gradients. Every rank must build its buckets from the same net (the same
// parameters in the same order): the exchange is collective.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <vector>

#include "deephash/core/collective.hpp"
#include "deephash/nn/net.hpp"

namespace deephash::nn {

template <class Scalar>
class GradientBuckets {
 public:
  // The PyTorch DDP figure is 25 MB; ours are smaller so that a net of a few MB (Fashion-MNIST's
  // is 3.5 MB) still has several buckets to overlap.
  static constexpr std::size_t default_bucket_bytes = std::size_t(1) << 20;

  GradientBuckets(Net<Scalar>& net, Collective& group, std::size_t bucket_bytes = default_bucket_bytes)
      : group_(group) {
    const std::size_t capacity = std::max<std::size_t>(1, bucket_bytes / sizeof(Scalar));
    std::size_t filled = capacity;  // the last bucket's size: a new one is opened at once
    for (std::size_t layer = net.num_layers(); layer-- > 0;) {
      Layer<Scalar>& l = net.layer(layer);
      for (std::size_t j = 0; j < l.params().size(); ++j) {
        if (l.param_spec(j).lr_mult == 0) continue;
        Blob<Scalar>* blob = l.params()[j].get();
        for (std::size_t offset = 0; offset < blob->count();) {
          if (filled == capacity) {
            buckets_.emplace_back();
            filled = 0;
          }
          Bucket& b = buckets_.back();
          const std::size_t count = std::min(blob->count() - offset, capacity - filled);
          b.pieces.push_back({blob, offset, count, filled});
          b.last_layer = layer;  // layers come in decreasing order: the smallest so far
          offset += count;
          filled += count;
        }
      }
    }
    for (Bucket& b : buckets_) {
      std::size_t size = 0;
      for (const Piece& p : b.pieces) size = std::max(size, p.at + p.count);
      b.values.resize(size);
    }
  }

  std::size_t num_buckets() const { return buckets_.size(); }
  // How many gradient values are exchanged each step.
  std::size_t num_values() const {
    std::size_t n = 0;
    for (const Bucket& b : buckets_) n += b.values.size();
    return n;
  }

  // For Net::backward's hook: layer `layer` has finished its backward pass. Starts every bucket
  // whose layers are all done, and lets the started ones progress.
  void layer_done(std::size_t layer) {
    while (started_ < buckets_.size() && buckets_[started_].last_layer >= layer) start(buckets_[started_++]);
    group_.progress();
  }
  std::function<void(std::size_t)> hook() {
    return [this](std::size_t layer) { layer_done(layer); };
  }

  // After backward: starts the buckets not started yet (all, when no hook ran), completes the
  // sums and writes sum / ranks into every exchanged parameter's diff.
  void finish() {
    while (started_ < buckets_.size()) start(buckets_[started_++]);
    group_.finish_allreduces();
    const Scalar ranks = Scalar(group_.size());
    for (Bucket& b : buckets_)
      for (const Piece& p : b.pieces) {
        const Scalar* from = b.values.data() + p.at;
        Scalar* diff = p.blob->diff() + p.offset;
        for (std::size_t i = 0; i < p.count; ++i) diff[i] = from[i] / ranks;
      }
    started_ = 0;
  }

 private:
  // values[at, at + count) of a bucket are blob's diff[offset, offset + count).
  struct Piece {
    Blob<Scalar>* blob;
    std::size_t offset, count, at;
  };
  struct Bucket {
    std::vector<Piece> pieces;
    std::size_t last_layer = 0;  // the first layer of the net owning a piece: done last in backward
    std::vector<Scalar> values;
  };

  void start(Bucket& b) {
    for (const Piece& p : b.pieces) std::copy(p.blob->diff() + p.offset, p.blob->diff() + p.offset + p.count, b.values.data() + p.at);
    group_.start_allreduce_sum(b.values.data(), b.values.size());
  }

  Collective& group_;
  std::vector<Bucket> buckets_;
  std::size_t started_ = 0;
};

}  // namespace deephash::nn
