// Models and data: load a trained model and encode numpy images, files or whole collections
// (streamed, or straight into an encoded-set file); open image sources; read encoded sets; train
// a model from numpy arrays or a collection with the library's training driver, with progress
// reported to a Python callback.

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "deephash/data/sources/list_source.hpp"
#include "deephash/data/sources/memory_source.hpp"
#include "deephash/io/container/codes_file.hpp"
#include "deephash/io/container/model_file.hpp"
#include "deephash/workflow/encoding.hpp"
#include "deephash/workflow/recipe.hpp"
#include "deephash/workflow/sets.hpp"

namespace deephash::python {

namespace {

// An image source, with whatever Python object holds its pixels (a numpy array) kept alive.
struct Source {
  std::shared_ptr<const ImageSource> source;
  py::object pixels_owner;
};

Source array_source(const py::handle& images, const py::handle& labels, std::vector<std::string> class_names) {
  const ImageBatchView view = images_arg(images, "images");
  std::vector<int> l = labels.is_none() ? std::vector<int>(view.count, 0) : labels_arg(labels, "labels");
  if (l.size() != view.count)
    throw py::value_error(std::to_string(view.count) + " images but " + std::to_string(l.size()) + " labels");
  return {std::make_shared<MemorySource>(view, std::move(l), std::move(class_names), "numpy array"),
          py::reinterpret_borrow<py::object>(images)};
}

// A Source, a SPEC string, or (with labels) a numpy array of images.
Source source_arg(const py::handle& object, const py::handle& labels, bool random_access) {
  if (py::isinstance<Source>(object)) return object.cast<Source>();
  if (py::isinstance<py::str>(object)) {
    const std::string spec = object.cast<std::string>();
    SourceOptions options;
    options.random_access = random_access;
    py::gil_scoped_release unlocked;
    return {open_image_source(spec, options), py::none()};
  }
  return array_source(object, labels, {});
}

// A trained model and the frontend that runs it, made on first use; calls are serialised (the
// network's buffers are shared by them) and run without the GIL.
class Model {
 public:
  explicit Model(HashingModel model) : model_(std::move(model)) {}

  const HashingModel& model() const { return model_; }
  std::mutex& mutex() { return mutex_; }
  // Call with the mutex held.
  nn::CnnFrontend& frontend() {
    const unsigned threads = default_threads();
    if (!frontend_ || threads_ != threads) {
      frontend_ = model_.make_frontend(threads);
      threads_ = threads;
    }
    return *frontend_;
  }

 private:
  HashingModel model_;
  std::mutex mutex_;
  std::unique_ptr<nn::CnnFrontend> frontend_;
  unsigned threads_ = 0;
};

// Builds the frontend (with the GIL released: it loads the weights) and returns what `read` reads.
template <class Read>
auto with_frontend(Model& m, Read&& read) {
  py::gil_scoped_release unlocked;
  std::lock_guard<std::mutex> lock(m.mutex());
  return read(m.frontend());
}

py::tuple encode_images_array(Model& m, const py::handle& images, bool features, std::size_t batch, bool progress) {
  const ImageBatchView view = images_arg(images, "images");
  if (batch < 1) throw py::value_error("batch must be >= 1");
  EncodedImages encoded;
  {
    py::gil_scoped_release unlocked;
    std::lock_guard<std::mutex> lock(m.mutex());
    nn::CnnFrontend& f = m.frontend();
    // (pybind11's builtin exceptions hold no Python state: they may be thrown without the GIL.)
    const int channels = f.decode_options().channels;
    if (view.channels != channels) {
      throw py::value_error("the model takes " + std::to_string(channels) + "-channel images, these have " +
                            std::to_string(view.channels));
    }
    const std::vector<int>& chw = m.model().frontend.input_shape;
    const TransformSpec& t = m.model().frontend.transform;
    if (chw.size() == 3 && view.count > 0 &&
        (t.output_height(view.height) != chw[1] || t.output_width(view.width) != chw[2])) {
      throw py::value_error("the model takes " + std::to_string(chw[1]) + "x" + std::to_string(chw[2]) +
                            " input after its transformation; images of " + std::to_string(view.height) + "x" +
                            std::to_string(view.width) + " give " + std::to_string(t.output_height(view.height)) + "x" +
                            std::to_string(t.output_width(view.width)));
    }
    if (features && f.feature_dim() <= 0) {
      throw py::value_error("this model gives no features for reranking (its frontend names no feature blob)");
    }
    encoded = encode_images(f, view, features, batch, "encode", progress);
  }
  py::object feats = py::none();
  if (features) feats = matrix_to_numpy(std::move(encoded.features));
  return py::make_tuple(codes_to_numpy(std::move(encoded.codes)), feats);
}

std::optional<EncodedSet> encode_source_with(Model& m, const Source& s, bool features, std::size_t batch, unsigned workers,
                                             bool progress, const std::string& out, const std::string& role) {
  if (batch < 1) throw py::value_error("batch must be >= 1");
  EncodeOptions o;
  o.with_features = features;
  o.batch = batch;
  o.decode_workers = std::max(1u, workers);
  o.show_progress = progress;
  // The set records the model that made it, as the command's does, so that search and eval can
  // refuse sets of different models.
  o.model_digest = model_digest(m.model());
  const Provenance provenance{s.source->spec(), role, ""};
  py::gil_scoped_release unlocked;
  std::lock_guard<std::mutex> lock(m.mutex());
  if (!out.empty()) {
    encode_source_to_file(m.frontend(), *s.source, provenance, out, o);
    return std::nullopt;
  }
  return encode_source(m.frontend(), *s.source, provenance, o);
}

py::dict history_dict(const nn::TrainingHistory& h) {
  py::dict d;
  d["iteration"] = vector_to_numpy(std::vector<int>(h.iteration));
  d["loss"] = vector_to_numpy(std::vector<double>(h.loss));
  d["accuracy"] = vector_to_numpy(std::vector<double>(h.accuracy));
  d["learning_rate"] = vector_to_numpy(std::vector<double>(h.learning_rate));
  d["seconds"] = h.seconds;
  return d;
}

struct PyTrainResult {
  std::shared_ptr<Model> model;
  py::dict history;
  double epochs = 0;
};

PyTrainResult train(const py::handle& images, const py::handle& labels, int bits, const std::string& arch,
                    std::optional<double> epochs, std::optional<double> minutes, int batch, std::optional<float> lr, const std::string& lr_policy, float momentum,
                    float weight_decay, std::uint64_t seed, std::vector<std::string> class_names, const std::string& init,
                    const std::string& snapshot, int snapshot_every, const std::string& resume, const std::string& device,
                    const std::string& math, const std::optional<std::string>& mirror, const py::object& progress,
                    int num_threads) {
  const bool from_array = !py::isinstance<py::str>(images) && !py::isinstance<Source>(images);
  if (from_array && labels.is_none()) throw py::value_error("training from an array of images needs their labels");
  const Source s = from_array ? array_source(images, labels, std::move(class_names)) : source_arg(images, py::none(), true);
  TrainConfig c;
  c.arch = arch;
  c.bits = bits;
  c.epochs = epochs;
  c.minutes = minutes;
  c.batch = batch;
  c.lr = lr;
  c.lr_policy = lr_policy;
  c.momentum = momentum;
  c.weight_decay = weight_decay;
  c.seed = seed;
  c.init = init;
  c.snapshot = snapshot;
  c.snapshot_every = snapshot_every;
  c.resume = resume;
  c.device = device;
  c.math = math;
  if (mirror) c.mirror = mirror_named(*mirror);
  const bool callback = !progress.is_none() && PyCallable_Check(progress.ptr());
  c.show_progress = !callback && !progress.is_none() && progress.cast<bool>();
  // Every step: Ctrl-C (the GIL is released, so Python's handler only runs here) and the callback
  // at each entry of the history; an exception from either ends the run.
  c.on_step = [&](const nn::TrainingProgress& p) {
    py::gil_scoped_acquire locked;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (callback && p.logged) progress(nn::TrainingProgress(p));  // a copy the callback may keep
  };
  TrainResult trained;
  {
    py::gil_scoped_release unlocked;
    ThreadPool pool(threads_or_default(num_threads));
    trained = train_hashing_model(*s.source, c, pool);
  }
  return {std::make_shared<Model>(std::move(trained.model)), history_dict(trained.history), trained.epochs};
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Source>(m, "Source", R"(A labelled image collection, read as it is used (open_source, array_source): nothing holds a
whole collection's pixels.)")
      .def_property_readonly("spec", [](const Source& s) { return s.source->spec(); })
      .def("__len__", [](const Source& s) { return s.source->size(); })
      .def_property_readonly("class_names", [](const Source& s) { return s.source->class_names(); })
      .def_property_readonly("labels", [](const Source& s) { return vector_to_numpy(s.source->labels()); }, "One label per item (int32).")
      .def("locator", [](const Source& s, std::size_t i) {
             if (i >= s.source->size()) throw py::index_error("item " + std::to_string(i) + " of " + std::to_string(s.source->size()));
             return s.source->locator(i);
           }, py::arg("i"), "Where item i is: a path, ARCHIVE:member, or FILE#record.")
      .def("read", [](const Source& s, std::size_t i) {
             if (i >= s.source->size()) throw py::index_error("item " + std::to_string(i) + " of " + std::to_string(s.source->size()));
             Image image;
             {
               py::gil_scoped_release unlocked;
               image = s.source->reader()->read(i, 0);
             }
             auto owned = std::make_unique<Image>(std::move(image));
             const std::array<py::ssize_t, 3> shape{owned->height, owned->width, owned->channels};
             const std::uint8_t* data = owned->pixels.data();
             return py::array_t<std::uint8_t>(shape, data, owner_of(std::move(owned)));
           }, py::arg("i"), "Item i decoded: uint8, H x W x C.")
      .def("__repr__", [](const Source& s) { return "<deephash Source " + s.source->spec() + ": " + std::to_string(s.source->size()) + " images>"; });
  m.def("open_source", [](const std::string& spec, bool random_access) { return source_arg(py::str(spec), py::none(), random_access); },
        py::arg("spec"), py::arg("random_access") = false,
        (std::string("Opens an image collection by SPEC, as the deephash command does:\n") + kImageSpecHelp).c_str());
  m.def("array_source", &array_source, py::arg("images"), py::arg("labels") = py::none(),
        py::arg("class_names") = std::vector<std::string>{},
        "Images in a numpy array (uint8, N x H x W x C or N x H x W) as a source, read in place.");
  m.def("path_source", [](std::vector<std::string> paths, const py::handle& labels) {
          std::vector<int> l = labels.is_none() ? std::vector<int>{} : labels_arg(labels, "labels");
          return Source{std::make_shared<PathListSource>(std::move(paths), std::move(l)), py::none()};
        },
        py::arg("paths"), py::arg("labels") = py::none(), "Image files (JPEG, PNG, ...) by path as a source; labels default to 0.");

  py::class_<EncodedSet>(m, "EncodedSet", R"(Codes of a collection with its labels, class names, provenance and locators, and the rerank
features when asked for: what model.encode_source returns and deephash encode writes (.dhc).)")
      .def_property_readonly("codes", [](const EncodedSet& s) { return codes_to_numpy(s.codes); }, "uint8, FAISS's layout.")
      .def_property_readonly("bits", [](const EncodedSet& s) { return s.codes.bits(); })
      .def_property_readonly("labels", [](const EncodedSet& s) { return vector_to_numpy(std::vector<int>(s.labels)); })
      .def_readonly("class_names", &EncodedSet::class_names)
      .def_readonly("source", &EncodedSet::source)
      .def_readonly("role", &EncodedSet::role)
      .def_readonly("holdout", &EncodedSet::holdout)
      .def_readonly("paths", &EncodedSet::paths)
      .def_readonly("model", &EncodedSet::model, "Digest of the model that encoded it (Model.digest); empty if not recorded.")
      .def_readonly("skipped", &EncodedSet::skipped, "Unreadable images left out when it was encoded.")
      .def_property_readonly("features", [](const EncodedSet& s) -> py::object {
        if (s.features.size() == 0) return py::none();
        return matrix_to_numpy(s.features);
      }, "float32, items x features, or None.")
      .def("__len__", [](const EncodedSet& s) { return s.codes.size(); })
      .def("save", [](const EncodedSet& s, const std::string& path) {
        py::gil_scoped_release unlocked;
        save_encoded_set(s, path);
      }, py::arg("path"), "Writes a .dhc file, atomically.");
  m.def("load_encoded_set", [](const std::string& path) {
          require_file(path);
          py::gil_scoped_release unlocked;
          return load_encoded_set(path);
        },
        py::arg("path"), "Reads an encoded set (.dhc, or a shard manifest) written by deephash encode or EncodedSet.save.");

  py::class_<Model, std::shared_ptr<Model>>(m, "Model", R"(A trained hashing model: the network with its weights, its input transformation and class names
(load_model, train). Encoding releases the GIL; one model encodes one batch at a time.)")
      .def_property_readonly("bits", [](Model& m) { return with_frontend(m, [](nn::CnnFrontend& f) { return f.code_bits(); }); },
                             "Code length: units of the latent layer.")
      .def_property_readonly("feature_dim", [](Model& m) { return with_frontend(m, [](nn::CnnFrontend& f) { return f.feature_dim(); }); },
                             "Size of the rerank features (e.g. fc7's 4096); 0 if none.")
      .def_property_readonly("class_names", [](const Model& m) { return m.model().class_names; })
      .def_property_readonly("digest", [](const Model& m) { return model_digest(m.model()); },
                             "What encoded sets record of this model (a digest of its saved form).")
      .def_property_readonly("description", [](const Model& m) { return m.model().description; })
      .def_property_readonly("input_shape", [](const Model& m) { return m.model().frontend.input_shape; },
                             "Channels, height, width of the network's input.")
      .def("encode", &encode_images_array, py::arg("images"), py::arg("features") = false, py::arg("batch") = 64,
           py::arg("progress") = false,
           R"(codes, feats = model.encode(images): images uint8, N x H x W x C (RGB) or N x H x W (gray), resized
and cropped by the model's transformation. codes: uint8 in FAISS's layout; feats: float32 rerank
features when features=True, else None.)")
      .def("encode_source", [](Model& m, const py::handle& source, bool features, std::size_t batch, unsigned workers, bool progress,
                               const std::string& out, const std::string& role) -> py::object {
             const Source s = source_arg(source, py::none(), false);
             std::optional<EncodedSet> set = encode_source_with(m, s, features, batch, workers, progress, out, role);
             if (!set) return py::none();
             return py::cast(std::move(*set));
           },
           py::arg("source"), py::arg("features") = false, py::arg("batch") = 64, py::arg("workers") = 1, py::arg("progress") = true,
           py::arg("out") = "", py::arg("role") = "all",
           R"(Encodes a collection (a Source or a SPEC such as "folder:photos"), decoding ahead of the
network on `workers` threads: an EncodedSet, or with out=PATH, None, the codes streamed into that
.dhc file batch by batch (memory holds one batch, not the collection).)")
      .def("encode_paths", [](Model& m, std::vector<std::string> paths, bool features, std::size_t batch, unsigned workers) {
             const Source s{std::make_shared<PathListSource>(std::move(paths)), py::none()};
             return *encode_source_with(m, s, features, batch, workers, false, "", "all");
           },
           py::arg("paths"), py::arg("features") = false, py::arg("batch") = 64, py::arg("workers") = 1,
           "Encodes image files by path: an EncodedSet in the order given.")
      .def("save", [](const Model& m, const std::string& path) {
        py::gil_scoped_release unlocked;
        save_model(m.model(), path);
      }, py::arg("path"), "Writes a .dhm model file, atomically.")
      .def("__repr__", [](const Model& m) { return "<deephash Model: " + m.model().description + ">"; });
  m.def("load_model", [](const std::string& path) {
          require_file(path);
          HashingModel model;
          {
            py::gil_scoped_release unlocked;
            model = load_model(path);
          }
          return std::make_shared<Model>(std::move(model));
        },
        py::arg("path"), "Reads a .dhm model (deephash train, the shipped models in examples/models).");

  py::class_<nn::TrainingProgress>(m, "TrainingProgress", "Where a training run stands: what a progress callback receives.")
      .def_readonly("iteration", &nn::TrainingProgress::iteration)
      .def_readonly("until", &nn::TrainingProgress::until, "The iteration the run ends at.")
      .def_readonly("loss", &nn::TrainingProgress::loss, "Mean loss since the previous report.")
      .def_readonly("accuracy", &nn::TrainingProgress::accuracy, "Mean training accuracy since the previous report.")
      .def_readonly("learning_rate", &nn::TrainingProgress::learning_rate)
      .def_readonly("seconds", &nn::TrainingProgress::seconds, "Since the run started.")
      .def("__repr__", [](const nn::TrainingProgress& p) {
        return "<TrainingProgress " + std::to_string(p.iteration) + "/" + std::to_string(p.until) + " loss " + std::to_string(p.loss) + ">";
      });
  py::class_<PyTrainResult>(m, "TrainResult", "A trained model, its training curves (history) and the epochs it trained.")
      .def_readonly("model", &PyTrainResult::model)
      .def_readonly("history", &PyTrainResult::history, "iteration, loss, accuracy, learning_rate (arrays) and seconds.")
      .def_readonly("epochs", &PyTrainResult::epochs);
  m.def("train", &train, py::arg("images"), py::arg("labels") = py::none(), py::kw_only(), py::arg("bits") = 48,
        py::arg("arch") = "auto", py::arg("epochs") = py::none(),
        py::arg("minutes") = py::none(), py::arg("batch") = 64, py::arg("lr") = py::none(),
        py::arg("lr_policy") = "onecycle", py::arg("momentum") = 0.9f, py::arg("weight_decay") = 5e-4f, py::arg("seed") = 1,
        py::arg("class_names") = std::vector<std::string>{}, py::arg("init") = "", py::arg("snapshot") = "",
        py::arg("snapshot_every") = 0, py::arg("resume") = "", py::arg("device") = "cpu", py::arg("math") = "auto",
        py::arg("mirror") = py::none(), py::arg("progress") = true, py::arg("num_threads") = 0,
        R"(Trains a hashing model the way `deephash train` does: an architecture preset sized to the
images (arch: "auto", "fashion-mnist", "cifar" or "kevinnet"), a latent layer of `bits` sigmoid
units, the softmax loss, SGD with the preset's schedule. epochs: None takes the preset's, or for a
preset with a time budget (cifar: 30 minutes) the epochs that fit `minutes` (None: the preset's
budget; 0: none), timed on a pilot of the training's own steps.

images: uint8 numpy images (N x H x W x C or N x H x W) with `labels` (int, 0-based), a Source,
or a SPEC string ("folder:photos"). init: weights to fine-tune from (a .dhm or .caffemodel);
snapshot / snapshot_every / resume: snapshots to continue from exactly. mirror: the training flips,
"random", "alternating" (each image mirrored in every other epoch) or "none" (images whose mirror
image means something else: digits, text); None takes the preset's. progress: True shows a
bar on stderr, False nothing, a callable receives a TrainingProgress about 200 times per run
(raise from it to stop). Ctrl-C stops the run. Returns a TrainResult (model, history, epochs).)");
  m.def("presets", &preset_names, "The architecture presets train() knows.");
}

}  // namespace deephash::python
