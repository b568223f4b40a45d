#pragma once
// The one contract every layer keeps (as in Caffe and dlib):
//
//   setup(bottom, rng)        once: check the inputs, create and initialise the parameters
//   reshape(bottom, top)      shape the outputs from the inputs (again whenever inputs change)
//   forward(bottom, top)      compute top data from bottom data
//   backward(top, propagate, bottom)
//                             from top diffs, write the bottom diffs asked for (propagate[i])
//                             and ADD the parameter gradients into params()[j]->diff()
//   params()                  the learnable blobs, with their lr / decay multipliers
//
// A layer that allows in-place operation (top == bottom) must not rely in backward on its top
// data: a later in-place layer may have overwritten it. It keeps what it needs (a mask, a copy).
//
// Work is split over the samples of a batch with the context's thread pool: one level of
// parallelism, with Eigen single-threaded inside each task.

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "deephash/core/collective.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/nn/blob.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash::nn {

// Caffe's CanonicalAxisIndex: `axis` of a blob with `num_axes` axes, a negative one counted from
// the end (-1 is the last). Throws Error(where, ...) when it lies outside [-num_axes, num_axes).
inline int canonical_axis(int axis, const std::vector<int>& shape, const std::string& where, const std::string& what = "axis") {
  const int n = int(shape.size());
  if (axis < -n || axis >= n)
    throw Error(where, what + " " + std::to_string(axis) + " is out of range for the input " + shape_text(shape) +
                           " (" + std::to_string(n) + " axes)");
  return axis < 0 ? axis + n : axis;
}

struct RunContext {
  Phase phase = Phase::Test;
  ThreadPool* pool = nullptr;      // null: everything on the calling thread
  std::mt19937_64* rng = nullptr;  // for layers that sample (dropout); every rank's draws the same
  // Data-parallel training (nn/trainer.hpp): the group of ranks whose batches together make the
  // global batch, and where this rank's sample 0 sits in it. Layers that couple the samples of a
  // batch (batch norm) sum their statistics over the group; layers that sample per sample
  // (dropout) key their draws by global position, so that the ranks together compute what one
  // process computes on the global batch. Null: one process, the batch is all there is.
  Collective* collective = nullptr;
  std::size_t first_sample = 0;
  // Whether float convolutions may round their operands to bfloat16 (products and sums stay
  // float; nn/bf16_products.hpp): for training, on CPUs with AVX-512 BF16. Ignored elsewhere.
  bool bf16_products = false;

  std::size_t num_threads() const { return pool ? pool->num_threads() : 1; }

  // Splits [0, n) into at most num_threads() contiguous chunks and calls body(chunk, begin, end)
  // for each, in parallel; chunk < num_chunks(n).
  std::size_t num_chunks(std::size_t n) const { return std::max<std::size_t>(1, std::min(n, num_threads())); }
  template <class Body>
  void parallel_chunks(std::size_t n, Body&& body) const {
    const std::size_t chunks = num_chunks(n);
    auto run = [&](std::size_t c) { body(c, n * c / chunks, n * (c + 1) / chunks); };
    if (pool && chunks > 1)
      pool->parallel_for(chunks, run);
    else
      for (std::size_t c = 0; c < chunks; ++c) run(c);
  }
};

template <class Scalar>
class Layer {
 public:
  using BlobType = Blob<Scalar>;
  using Blobs = std::vector<BlobType*>;

  explicit Layer(LayerSpec spec) : spec_(std::move(spec)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const LayerSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  const std::string& type() const { return spec_.type; }

  virtual void setup(const Blobs& bottom, std::mt19937_64& rng) = 0;
  virtual void reshape(const Blobs& bottom, const Blobs& top) = 0;
  virtual void forward(const Blobs& bottom, const Blobs& top, const RunContext& ctx) = 0;
  virtual void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                        const RunContext& ctx) = 0;

  std::vector<std::unique_ptr<BlobType>>& params() { return params_; }
  const std::vector<std::unique_ptr<BlobType>>& params() const { return params_; }
  virtual ParamSpec param_spec(std::size_t i) const {
    return i < spec_.params.size() ? spec_.params[i] : ParamSpec{};
  }

  // How many parameter blobs setup() creates (known from the spec alone).
  virtual std::size_t num_params() const { return 0; }
  // Whether the solver changes any of them (a multiplier of 0 freezes a blob).
  bool learnable() const {
    for (std::size_t j = 0; j < num_params(); ++j)
      if (param_spec(j).lr_mult != 0) return true;
    return false;
  }

  // The loss weight of top i when the spec gives none: 1 for the first top of a loss layer.
  virtual float default_loss_weight(std::size_t /*top*/) const { return 0; }
  // Whether the layer may run with top == bottom (Caffe's in-place layers).
  virtual bool allows_in_place() const { return false; }
  // Whether bottom i can receive a gradient at all (labels cannot).
  virtual bool can_propagate(std::size_t /*bottom*/) const { return true; }

 protected:
  // "layer 'conv1' (Convolution)": where an error happened, for messages.
  std::string where() const { return "layer '" + spec_.name + "' (" + spec_.type + ")"; }
  [[noreturn]] void fail(const std::string& problem) const { throw Error(where(), problem); }
  void require_bottoms(const Blobs& bottom, std::size_t min, std::size_t max) const {
    if (bottom.size() < min || bottom.size() > max)
      fail("expects " + (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
           " inputs, got " + std::to_string(bottom.size()));
  }
  void require_axes(const BlobType& b, int axes, const char* what) const {
    if (b.num_axes() != axes)
      fail(std::string(what) + " must have " + std::to_string(axes) + " axes, got " + shape_text(b.shape()));
  }
  BlobType& add_param(std::vector<int> shape) {
    params_.push_back(std::make_unique<BlobType>(std::move(shape)));
    return *params_.back();
  }

  LayerSpec spec_;
  std::vector<std::unique_ptr<BlobType>> params_;
};

}  // namespace deephash::nn
