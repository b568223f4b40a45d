#pragma once
// Training a hashing model from a labelled image set: the architecture and input transformation
// that suit the images, the solver, snapshots, and the training curves. Shared by `train` and
// `demo`.

#include <filesystem>
#include <string>

#include <deephash/eval/svg_plot.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/nn/architectures.hpp>
#include <deephash/nn/trainer.hpp>

#ifdef DEEPHASH_WITH_CUDA
#include <deephash/cuda/gpu_net.hpp>
#endif

namespace deephash::cli {

struct TrainConfig {
  std::string arch = "auto";  // auto, fashion-mnist, cifar or kevinnet
  int bits = 48;
  double epochs = 8;
  int batch = 64;
  float lr = 0.1f;
  std::string lr_policy = "onecycle";
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  std::uint64_t seed = 1;
  float binarization_weight = 0, balance_weight = 0;
  std::string init;          // a .caffemodel (or deephash model) to start from: fine-tuning
  std::string snapshot;      // where to write snapshots ("{iter}": the iteration); empty: none
  int snapshot_every = 0;    // iterations between snapshots (0: only at the end)
  std::string resume;        // a snapshot to continue from
  std::string device = "cpu";  // or "cuda"
  std::string math = "fp32";   // on the GPU: fp32, tf32 or bf16
};

inline const char* kTrainHelp =
    "  --arch NAME           auto (from the image size), fashion-mnist, cifar or kevinnet\n"
    "  --bits N              code length, the latent layer's size (default 48)\n"
    "  --epochs X            passes over the training images (default 8)\n"
    "  --batch N             mini-batch size (default 64)\n"
    "  --lr X                peak / base learning rate (default 0.1)\n"
    "  --lr-policy P         onecycle (default), fixed, step, multistep, inv, poly\n"
    "  --weight-decay X      (default 0.0005)\n"
    "  --seed N              same seed and thread count, same model (default 1)\n"
    "  --ssdh-binarization X, --ssdh-balance X   the SSDH losses' weights (default 0: off)\n"
    "  --init FILE           start from these weights (.caffemodel or deephash model): fine-tuning\n"
    "  --snapshot FILE       write a training snapshot there (at the end, and every --snapshot-every N steps);\n"
    "                        {iter} in FILE becomes the iteration, so that every snapshot is kept\n"
    "  --resume FILE         continue a snapshot exactly where it stopped\n"
    "  --device D            cpu (default) or cuda (builds with the GPU module)\n"
    "  --math M              on the GPU: fp32 (default), tf32 or bf16 matrix products\n";

inline TrainConfig train_config_from(const Args& a, TrainConfig c = {}) {
  c.arch = a.get("arch", c.arch);
  c.bits = int(a.get_int("bits", c.bits));
  c.epochs = a.get_double("epochs", c.epochs);
  c.batch = int(a.get_int("batch", c.batch));
  c.lr = float(a.get_double("lr", c.lr));
  c.lr_policy = a.get("lr-policy", c.lr_policy);
  c.weight_decay = float(a.get_double("weight-decay", c.weight_decay));
  c.seed = std::uint64_t(a.get_int("seed", long(c.seed)));
  c.binarization_weight = float(a.get_double("ssdh-binarization", c.binarization_weight));
  c.balance_weight = float(a.get_double("ssdh-balance", c.balance_weight));
  c.init = a.get("init", c.init);
  c.snapshot = a.get("snapshot", c.snapshot);
  c.snapshot_every = int(a.get_int("snapshot-every", c.snapshot_every));
  c.resume = a.get("resume", c.resume);
  c.device = a.get("device", c.device);
  c.math = a.get("math", c.math);
  if (c.device != "cpu" && c.device != "cuda") throw Error("--device " + c.device, "must be cpu or cuda");
  if (c.math != "fp32" && c.math != "tf32" && c.math != "bf16") throw Error("--math " + c.math, "must be fp32, tf32 or bf16");
  return c;
}
inline const std::set<std::string> kTrainOptions = {"arch", "bits", "epochs", "batch", "lr", "lr-policy", "weight-decay", "seed",
                                                   "ssdh-binarization", "ssdh-balance", "init", "snapshot", "snapshot-every",
                                                   "resume", "device", "math"};

// The network and the input transformation for these images.
inline HashingModel untrained_model(const ImageDataset& images, const TrainConfig& c) {
  nn::ArchitectureOptions o;
  o.bits = c.bits;
  o.classes = images.num_classes();
  o.batch = c.batch;
  o.binarization_weight = c.binarization_weight;
  o.balance_weight = c.balance_weight;
  std::string arch = c.arch;
  if (arch == "auto")
    arch = images.channels == 1 && images.height <= 32 ? "fashion-mnist"
           : images.height <= 64 && images.width <= 64 ? "cifar"
                                                      : "kevinnet";
  HashingModel m;
  m.class_names = images.class_names;
  TransformSpec& t = m.frontend.transform;
  if (arch == "fashion-mnist") {
    if (images.channels != 1) throw Error("--arch fashion-mnist", "needs gray images, got " + std::to_string(images.channels) + " channels");
    m.net = nn::fashion_mnist_net(o);
    t.resize_height = t.resize_width = 28;
    t.mean_values = {72.94f};  // Fashion-MNIST's mean pixel
    t.scale = 1 / 90.0f;       // about its standard deviation
    t.pad = 2;
    t.mirror = true;
    m.frontend.input_shape = {1, 28, 28};
    m.frontend.feature_blob = "fc1";
  } else if (arch == "cifar") {
    if (images.channels != 3) throw Error("--arch cifar", "needs colour images, got " + std::to_string(images.channels) + " channels");
    m.net = nn::cifar_net(o);
    t.resize_height = t.resize_width = 32;
    t.mean_values = {125.3f, 123.0f, 113.9f};  // CIFAR-10's channel means
    t.scale = 1 / 63.0f;
    t.pad = 4;
    t.mirror = true;
    m.frontend.input_shape = {3, 32, 32};
    m.frontend.feature_blob = "fc1";
  } else if (arch == "kevinnet") {
    m.net = nn::kevin_net(o);
    t.resize_height = t.resize_width = 256;
    t.crop = 227;
    t.mirror = true;
    t.bgr = true;
    t.mean_values = {104, 117, 123};  // Caffe's ImageNet BGR means
    m.frontend.input_shape = {3, 227, 227};
    m.frontend.latent_blob = "fc8_kevin_encode";
    m.frontend.feature_blob = "fc7";
  } else {
    throw Error("--arch " + arch, "unknown architecture: auto, fashion-mnist, cifar or kevinnet (a Caffe model is "
                                  "fine-tuned with --arch kevinnet --init weights.caffemodel)");
  }
  m.description = arch + " network, " + std::to_string(c.bits) + "-bit latent layer";
  return m;
}

// Weights to start from: a .caffemodel (by layer name, as Caffe fine-tunes) or a deephash model.
inline std::vector<nn::LayerWeights> initial_weights(const std::string& path) {
  if (path.size() > 11 && path.substr(path.size() - 11) == ".caffemodel") return read_caffemodel(path).weights;
  return load_model(path).weights;
}

// The file a snapshot at this iteration goes to: --snapshot with "{iter}" replaced by it.
inline std::string snapshot_path(std::string pattern, int iteration) {
  const std::size_t at = pattern.find("{iter}");
  if (at != std::string::npos) pattern.replace(at, 6, std::to_string(iteration));
  return pattern;
}

struct TrainResult {
  HashingModel model;
  nn::TrainingHistory history;
};

inline TrainResult train_model(const ImageDataset& images, TrainConfig c, ThreadPool& pool, const std::string& label = "train") {
  TrainResult result;
  TrainingSnapshot resumed;
  if (!c.resume.empty()) {
    resumed = load_snapshot(c.resume);
    result.model = resumed.model;
    c.seed = resumed.seed;
    c.batch = resumed.batch_size;
  } else {
    result.model = untrained_model(images, c);
  }
  const std::vector<int>& chw = result.model.frontend.input_shape;
  if (chw.size() != 3) throw Error(label, "the model does not say its input shape (channels, height, width)");
  nn::NetOptions options;
  options.seed = c.seed;
  options.input_shapes["data"] = {c.batch, chw[0], chw[1], chw[2]};
  options.input_shapes["label"] = {c.batch};
  nn::SolverSpec s;
  if (!c.resume.empty()) {
    s = resumed.solver;
  } else {
    s.base_lr = c.lr;
    s.lr_policy = c.lr_policy;
    s.momentum = c.momentum;
    s.weight_decay = c.weight_decay;
    s.max_iter = std::max(1, int(c.epochs * double(images.size()) / c.batch + 0.5));
    s.stepsize = std::max(1, s.max_iter / 3);
  }
  nn::TrainOptions t;
  t.batch_size = c.batch;
  t.transform = result.model.frontend.transform;
  t.seed = c.seed;

  // The same steps on either device: load the starting weights, restore a resumed solver, train
  // with snapshots, collect the weights.
  auto run = [&](auto& net, auto& solver, auto&& train_loop) {
    if (!c.resume.empty()) {
      net.load_weights(resumed.model.weights, c.resume);
      solver.restore(resumed.iteration, resumed.history);
    } else if (!c.init.empty()) {
      const auto loaded = net.load_weights(initial_weights(c.init), c.init);
      std::fprintf(stderr, "initialised %zu layers from %s\n", loaded.size(), c.init.c_str());
    }
    t.accuracy_blob = net.has_blob("accuracy") ? "accuracy" : "";
    auto snapshot = [&] {
      TrainingSnapshot snap{result.model, s, solver.iteration(), c.seed, c.batch, solver.history()};
      snap.model.weights = net.weights();
      save_snapshot(snap, snapshot_path(c.snapshot, snap.iteration));
    };
    std::function<void(int)> after_step;
    if (!c.snapshot.empty() && c.snapshot_every > 0)
      after_step = [&](int it) {
        if (it % c.snapshot_every == 0 && it < s.max_iter) snapshot();
      };
    result.history = train_loop(after_step);
    if (!c.snapshot.empty()) snapshot();
    result.model.weights = net.weights();
  };

  if (c.device == "cuda") {
#ifdef DEEPHASH_WITH_CUDA
    const cuda::MathMode math = c.math == "tf32" ? cuda::MathMode::TF32 : c.math == "bf16" ? cuda::MathMode::BF16 : cuda::MathMode::FP32;
    cuda::GpuNet net(result.model.net, nn::Phase::Train, options, math);
    cuda::GpuSgdSolver solver(net, s);
    run(net, solver, [&](const std::function<void(int)>& after_step) {
      return cuda::train_on_gpu(net, solver, images, t, s.max_iter, pool, label, after_step);
    });
#else
    throw Error("--device cuda", "this build of deephash has no GPU module (configure with a CUDA toolkit installed)");
#endif
  } else {
    nn::Net<float> net(result.model.net, nn::Phase::Train, options);
    nn::SgdSolver<float> solver(net, s);
    run(net, solver, [&](const std::function<void(int)>& after_step) {
      return nn::train(net, solver, images, t, s.max_iter, pool, label, after_step);
    });
  }
  return result;
}

// Loss and training accuracy over the iterations, as an SVG next to the model.
inline void write_training_curves(const nn::TrainingHistory& h, const std::string& path, const std::string& title) {
  std::vector<double> it(h.iteration.begin(), h.iteration.end());
  write_line_plot_svg(path, {PlotSeries{"loss", it, h.loss}, PlotSeries{"training accuracy", it, h.accuracy},
                             PlotSeries{"learning rate x 10", it, [&] {
                                          std::vector<double> lr;
                                          for (double r : h.learning_rate) lr.push_back(10 * r);
                                          return lr;
                                        }()}},
                      {title, "iteration", "", 720, 480, true});
}

}  // namespace deephash::cli
