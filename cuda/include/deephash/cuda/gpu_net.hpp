#pragma once
// The CNN on the GPU: the same network description, graph rules (net_graph.hpp), weights, model
// files and solver semantics as the CPU Net, with every layer's forward and backward as CUDA
// kernels and cuBLAS matrix products. A model trained here encodes on the CPU (and back): the
// weights are the same LayerWeights.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/thread_pool.hpp"
#include "deephash/cuda/device.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/nn/net_spec.hpp"
#include "deephash/nn/solver.hpp"
#include "deephash/nn/trainer.hpp"

namespace deephash::cuda {

class GpuNet {
 public:
  // Parameters are initialised exactly as the CPU Net initialises them for the same seed.
  GpuNet(const nn::NetSpec& spec, nn::Phase phase, const nn::NetOptions& options = {}, MathMode math = MathMode::FP32);
  ~GpuNet();
  GpuNet(GpuNet&&) noexcept;
  GpuNet& operator=(GpuNet&&) noexcept;

  nn::Phase phase() const;
  bool has_blob(const std::string& name) const;
  std::vector<int> blob_shape(const std::string& name) const;

  // Copies host data into an input blob, reshaping it.
  void set_input(const std::string& name, const std::vector<int>& shape, const float* data);
  // The last version of a blob, copied to the host.
  std::vector<float> blob_data(const std::string& name) const;
  std::vector<float> blob_diff(const std::string& name) const;

  // Runs every layer; returns the weighted sum of the losses. Dropout masks derive from the seed.
  float forward(std::uint64_t seed = 0);
  // Gradients of the loss; parameter gradients are added to (see zero_param_diffs).
  void backward();
  void zero_param_diffs();

  std::vector<nn::LayerWeights> weights() const;
  std::vector<nn::LayerWeights> weight_gradients() const;
  std::vector<std::string> load_weights(const std::vector<nn::LayerWeights>& weights, const std::string& source);

  // Every learnable parameter's device values (or gradients) and size, in layer order, and the
  // stream (a cudaStream_t) the net runs on: for exchanges between GPUs (nccl_group.hpp).
  std::vector<std::pair<float*, std::size_t>> param_buffers(bool gradients);
  void* stream_handle() const;
  void synchronize();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Caffe's SGD (see nn/solver.hpp) with the update on the GPU.
class GpuSgdSolver {
 public:
  GpuSgdSolver(GpuNet& net, nn::SolverSpec spec);
  ~GpuSgdSolver();
  const nn::SolverSpec& spec() const;
  int iteration() const;
  double current_learning_rate() const;
  void step();
  std::vector<std::vector<float>> history() const;
  void restore(int iteration, const std::vector<std::vector<float>>& history);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The training loop of nn/trainer.hpp on the GPU, with the same sample order, augmentation and
// seeds: host threads prepare the next batch in pinned memory while the GPU runs this one.
nn::TrainingHistory train_on_gpu(GpuNet& net, GpuSgdSolver& solver, const ImageSource& train_set,
                                 const nn::TrainOptions& options, int until, ThreadPool& host_pool,
                                 const std::string& label = "train",
                                 const std::function<void(int iteration)>& after_step = {});

}  // namespace deephash::cuda
