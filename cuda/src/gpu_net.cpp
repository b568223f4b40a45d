// GpuNet, GpuSgdSolver and the GPU training loop.

#include "deephash/cuda/gpu_net.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <future>
#include <memory>
#include <numeric>

#include "deephash/core/progress.hpp"
#ifdef DEEPHASH_WITH_NCCL
#include "deephash/cuda/nccl_group.hpp"
#endif
#include "deephash/nn/net.hpp"
#include "gpu_layers.hpp"
#include "kernels.hpp"

namespace deephash::cuda {

using detail::check;
using detail::GpuBlob;
using detail::GpuBlobs;

struct GpuNet::Impl {
  nn::NetGraph graph;
  nn::Phase phase;
  MathMode math;
  std::vector<std::unique_ptr<GpuBlob>> storages;
  std::vector<std::unique_ptr<detail::GpuLayer>> layers;
  std::vector<nn::ParamSpec> param_specs;  // per learnable blob, in layer order
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;

  Impl(const nn::NetSpec& spec, nn::Phase p, const nn::NetOptions& options, MathMode m)
      : graph(spec, p, options), phase(p), math(m) {
    std::string why;
    if (!available(&why)) throw Error("cuda", why);
    check(cudaStreamCreate(&stream), "creating a stream");
    check(cublasCreate(&cublas), "starting cuBLAS");
    check(cublasSetStream(cublas, stream), "binding cuBLAS to the stream");

    // The CPU net at batch size 1 gives the parameter shapes and their initial values for this
    // seed, so that both devices start from the same weights.
    nn::NetOptions one = options;
    for (const auto& in : graph.inputs())
      if (!in.shape.empty()) {
        auto s = in.shape;
        s[0] = 1;
        one.input_shapes[in.name] = s;
      }
    nn::Net<float> cpu(spec, p, one);
    for (std::size_t i = 0; i < graph.num_storages(); ++i) storages.push_back(std::make_unique<GpuBlob>());
    for (const auto& in : graph.inputs())
      if (!in.shape.empty()) storages[in.storage]->reshape(in.shape);
    for (std::size_t i = 0; i < graph.nodes().size(); ++i) {
      std::vector<std::vector<int>> shapes;
      for (const auto& prm : cpu.layer(i).params()) shapes.push_back(prm->shape());
      layers.push_back(detail::make_gpu_layer(graph.nodes()[i].spec, shapes));
      for (std::size_t j = 0; j < shapes.size(); ++j) {
        const auto& prm = *cpu.layer(i).params()[j];
        layers.back()->params()[j]->data.upload(prm.data(), prm.count());
        layers.back()->params()[j]->diff.zero();
        param_specs.push_back(cpu.layer(i).param_spec(j));
      }
    }
  }
  ~Impl() {
    if (cublas) cublasDestroy(cublas);
    if (stream) cudaStreamDestroy(stream);
  }

  detail::GpuContext context(std::uint64_t seed) const { return {stream, cublas, phase, seed, math}; }
  GpuBlobs blobs(const std::vector<std::size_t>& ids) {
    GpuBlobs out;
    for (std::size_t s : ids) out.push_back(storages[s].get());
    return out;
  }
  GpuBlob& blob(const std::string& name) { return *storages[graph.storage_of(name)]; }
  void sync(const char* what) { check(cudaStreamSynchronize(stream), what); }
};

GpuNet::GpuNet(const nn::NetSpec& spec, nn::Phase phase, const nn::NetOptions& options, MathMode math)
    : impl_(std::make_unique<Impl>(spec, phase, options, math)) {}
GpuNet::~GpuNet() = default;
GpuNet::GpuNet(GpuNet&&) noexcept = default;
GpuNet& GpuNet::operator=(GpuNet&&) noexcept = default;

nn::Phase GpuNet::phase() const { return impl_->phase; }
bool GpuNet::has_blob(const std::string& name) const { return impl_->graph.has_blob(name); }
std::vector<int> GpuNet::blob_shape(const std::string& name) const { return impl_->blob(name).shape; }

void GpuNet::set_input(const std::string& name, const std::vector<int>& shape, const float* data) {
  GpuBlob& b = impl_->blob(name);
  b.reshape(shape);
  check(cudaMemcpyAsync(b.data.data(), data, b.count * sizeof(float), cudaMemcpyHostToDevice, impl_->stream), "copying an input to the GPU");
}

std::vector<float> GpuNet::blob_data(const std::string& name) const {
  impl_->sync("finishing the GPU's work");
  return impl_->blob(name).data.to_host();
}
std::vector<float> GpuNet::blob_diff(const std::string& name) const {
  impl_->sync("finishing the GPU's work");
  return impl_->blob(name).diff.to_host();
}

float GpuNet::forward(std::uint64_t seed) {
  Impl& m = *impl_;
  const auto ctx = m.context(seed);
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const auto bottom = m.blobs(m.graph.nodes()[i].bottoms), top = m.blobs(m.graph.nodes()[i].tops);
    m.layers[i]->reshape(bottom, top);
    m.layers[i]->forward(bottom, top, ctx);
  }
  m.sync("running the network");
  float loss = 0;
  for (const auto& l : m.graph.losses())
    for (float x : m.storages[l.storage]->data.to_host()) loss += l.weight * x;
  return loss;
}

void GpuNet::backward() {
  Impl& m = *impl_;
  const auto ctx = m.context(0);
  for (auto& s : m.storages)
    s->diff.zero(m.stream);
  for (const auto& l : m.graph.losses()) kernels::fill(m.storages[l.storage]->diff.data(), m.storages[l.storage]->count, l.weight, m.stream);
  for (std::size_t i = m.layers.size(); i-- > 0;) {
    const nn::NetGraph::Node& n = m.graph.nodes()[i];
    if (n.runs_backward) m.layers[i]->backward(m.blobs(n.tops), n.propagate, m.blobs(n.bottoms), ctx);
  }
  m.sync("running the backward pass");
}

std::vector<std::pair<float*, std::size_t>> GpuNet::param_buffers(bool gradients) {
  std::vector<std::pair<float*, std::size_t>> out;
  for (auto& l : impl_->layers)
    for (auto& p : l->params()) out.emplace_back((gradients ? p->diff : p->data).data(), p->count);
  return out;
}
void* GpuNet::stream_handle() const { return impl_->stream; }
void GpuNet::synchronize() { impl_->sync("finishing the GPU's work"); }

void GpuNet::zero_param_diffs() {
  for (auto& l : impl_->layers)
    for (auto& p : l->params()) p->diff.zero();
}

static std::vector<nn::LayerWeights> collect(const GpuNet::Impl& m, bool gradients) {
  std::vector<nn::LayerWeights> out;
  for (const auto& l : m.layers) {
    if (l->params().empty()) continue;
    nn::LayerWeights w{l->spec().name, {}};
    for (const auto& p : l->params()) {
      nn::WeightBlob b{p->shape, std::vector<float>(p->count)};
      (gradients ? p->diff : p->data).download(b.data.data(), p->count);
      w.blobs.push_back(std::move(b));
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<nn::LayerWeights> GpuNet::weights() const {
  impl_->sync("finishing the GPU's work");
  return collect(*impl_, false);
}
std::vector<nn::LayerWeights> GpuNet::weight_gradients() const {
  impl_->sync("finishing the GPU's work");
  return collect(*impl_, true);
}

std::vector<std::string> GpuNet::load_weights(const std::vector<nn::LayerWeights>& weights, const std::string& source) {
  std::vector<std::string> loaded;
  for (const nn::LayerWeights& w : weights)
    for (auto& l : impl_->layers) {
      if (l->spec().name != w.layer) continue;
      std::vector<std::vector<int>> shapes;
      for (auto& p : l->params()) shapes.push_back(p->shape);
      nn::check_weights(w, shapes, source);
      for (std::size_t j = 0; j < shapes.size(); ++j) l->params()[j]->data.upload(w.blobs[j].data.data(), w.blobs[j].data.size());
      loaded.push_back(w.layer);
      break;
    }
  return loaded;
}

struct GpuSgdSolver::State {
  GpuNet& net;
  nn::SolverSpec spec;
  std::vector<GpuBlob*> params;
  std::vector<nn::ParamSpec> multipliers;
  std::vector<detail::DeviceArray<float>> history;
  int iteration = 0;
};

GpuSgdSolver::GpuSgdSolver(GpuNet& net, nn::SolverSpec spec) : state_(new State{net, std::move(spec), {}, {}, {}, 0}) {
  nn::learning_rate(state_->spec, 0);  // validates the policy
  std::size_t k = 0;
  for (auto& l : net.impl().layers)
    for (auto& p : l->params()) {
      state_->params.push_back(p.get());
      state_->multipliers.push_back(net.impl().param_specs[k++]);
      state_->history.emplace_back(p->count);
      state_->history.back().zero();
    }
}
GpuSgdSolver::~GpuSgdSolver() = default;
const nn::SolverSpec& GpuSgdSolver::spec() const { return state_->spec; }
int GpuSgdSolver::iteration() const { return state_->iteration; }
double GpuSgdSolver::current_learning_rate() const { return nn::learning_rate(state_->spec, state_->iteration); }

void GpuSgdSolver::step() {
  State& s = *state_;
  const float rate = float(current_learning_rate());
  for (std::size_t i = 0; i < s.params.size(); ++i)
    kernels::sgd_update(s.params[i]->data.data(), s.params[i]->diff.data(), s.history[i].data(), s.params[i]->count,
                        rate * s.multipliers[i].lr_mult, s.spec.momentum, s.spec.weight_decay * s.multipliers[i].decay_mult,
                        s.net.impl().stream);
  ++s.iteration;
}

std::vector<std::vector<float>> GpuSgdSolver::history() const {
  state_->net.impl().sync("finishing the GPU's work");
  std::vector<std::vector<float>> out;
  for (const auto& h : state_->history) {
    out.push_back(h.to_host());
  }
  return out;
}

void GpuSgdSolver::restore(int iteration, const std::vector<std::vector<float>>& history) {
  if (history.size() != state_->history.size())
    throw Error("solver", "the snapshot has " + std::to_string(history.size()) + " parameter histories, the net " +
                              std::to_string(state_->history.size()));
  for (std::size_t i = 0; i < history.size(); ++i) {
    if (history[i].size() != state_->history[i].size()) throw Error("solver", "snapshot history " + std::to_string(i) + " has the wrong size");
    state_->history[i].upload(history[i].data(), history[i].size());
  }
  state_->iteration = iteration;
}

namespace {
// Page-locked host memory, so that copies to the GPU run asynchronously at full speed.
struct PinnedFloats {
  float* p = nullptr;
  explicit PinnedFloats(std::size_t n) { check(cudaMallocHost(reinterpret_cast<void**>(&p), std::max<std::size_t>(n, 1) * sizeof(float)), "allocating pinned memory"); }
  ~PinnedFloats() { cudaFreeHost(p); }
  PinnedFloats(const PinnedFloats&) = delete;
  PinnedFloats& operator=(const PinnedFloats&) = delete;
};
}  // namespace

nn::TrainingHistory train_on_gpu(GpuNet& net, GpuSgdSolver& solver, const ImageSource& train_set, const nn::TrainOptions& options,
                                 int until, ThreadPool& host_pool, const std::string& label,
                                 const std::function<void(int iteration)>& after_step) {
  if (options.batch_size <= 0) throw Error(label, "batch size must be positive");
  // Data-parallel over the ranks of options.collective, one GPU each (nccl_group.hpp): each runs
  // its slice of every global batch, and NCCL averages the gradients.
  Collective* group = options.collective && options.collective->size() > 1 ? options.collective : nullptr;
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  if (options.batch_size % ranks != 0)
    throw Error(label, "the batch of " + std::to_string(options.batch_size) + " images does not split evenly over " +
                           std::to_string(ranks) + " ranks: make it a multiple of " + std::to_string(ranks));
  const std::size_t batch = std::size_t(options.batch_size / ranks), first_sample = std::size_t(rank) * batch;
  const int first = solver.iteration();
  // The net was built for its input's shape (N, C, H, W): batches are decoded to its channels and
  // transformed to its size.
  const std::vector<int> data_shape = net.blob_shape(options.data_blob);
  if (data_shape.size() != 4 || data_shape[0] != int(batch))
    throw Error(label, "the net's input '" + options.data_blob + "' is not a batch of " + std::to_string(batch) + " images");
#ifdef DEEPHASH_WITH_NCCL
  std::unique_ptr<NcclGroup> nccl;
  if (group) {
    nccl = std::make_unique<NcclGroup>(*group);
    nccl->broadcast_weights(net);  // every GPU starts from rank 0's weights
  }
#else
  if (group) throw Error(label, "data-parallel training on GPUs needs NCCL, which this build of deephash::cuda was made without");
#endif
  nn::TrainingBatches batches(train_set, options.seed, std::size_t(options.batch_size), first, until,
                              nn::training_decode_options(options.transform, data_shape[1]), options.decode_workers, label,
                              rank, ranks);
  const std::size_t per_batch = batch * std::size_t(data_shape[1]) * std::size_t(data_shape[2]) * std::size_t(data_shape[3]);
  PinnedFloats data[2] = {PinnedFloats(per_batch), PinnedFloats(per_batch)}, labels[2] = {PinnedFloats(batch), PinnedFloats(batch)};
  std::vector<std::size_t> rows(batch);
  std::iota(rows.begin(), rows.end(), std::size_t(0));
  auto prepare = [&](int it, int slot) {
    const DecodedBatch& b = batches.next();
    if (options.transform.output_height(b.height) != data_shape[2] || options.transform.output_width(b.width) != data_shape[3])
      throw Error(label, "the transformed images are " + std::to_string(options.transform.output_height(b.height)) + "x" +
                             std::to_string(options.transform.output_width(b.width)) + ", the net's input " +
                             std::to_string(data_shape[2]) + "x" + std::to_string(data_shape[3]));
    std::vector<std::uint8_t> flips;
    nn::prepare_batch(b.view(), rows, options.transform, true, options.seed + std::uint64_t(it) * 7919, host_pool, data[slot].p,
                      first_sample,
                      nn::alternating_flips(options.transform, b.items, options.seed, it, options.batch_size, first_sample,
                                            train_set.size(), flips));
    nn::gather_labels(b.labels, rows, labels[slot].p);
  };

  nn::TrainingLog log(label + " (GPU)", first, until, options.show_progress, !options.accuracy_blob.empty(), options.on_step);
  if (first < until) prepare(first, 0);
  for (int slot = 0; solver.iteration() < until; slot ^= 1) {
    const int it = solver.iteration();
    net.set_input(options.data_blob, data_shape, data[slot].p);
    if (!options.label_blob.empty() && net.has_blob(options.label_blob)) net.set_input(options.label_blob, {options.batch_size}, labels[slot].p);
    // The host prepares the next batch while the GPU runs this one.
    std::future<void> next;
    if (it + 1 < until) next = std::async(std::launch::async, [&, it, slot] { prepare(it + 1, slot ^ 1); });
    double loss = net.forward(options.seed * 31 + std::uint64_t(it));
    if (group) {  // the global batch's mean loss; not finite on one rank, not finite on all
      group->allreduce_sum(&loss, 1);
      loss /= double(ranks);
    }
    if (!std::isfinite(loss)) {
      if (next.valid()) next.wait();
      throw Error(label, "the loss became " + std::to_string(loss) + " at iteration " + std::to_string(it));
    }
    net.backward();
#ifdef DEEPHASH_WITH_NCCL
    if (nccl) nccl->average_gradients(net);
#endif
    const double rate = solver.current_learning_rate();
    solver.step();
    const double accuracy = options.accuracy_blob.empty() ? 0.0 : double(net.blob_data(options.accuracy_blob)[0]);
    if (next.valid()) next.get();
    log.record(solver.iteration(), loss, accuracy, rate);
    if (after_step) after_step(solver.iteration());
  }
  return log.finish();
}

}  // namespace deephash::cuda
