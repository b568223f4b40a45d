// The paper's CIFAR-10 protocol end to end: 10,000 test queries against the 50,000 training
// images, mAP@1000 (AP divided by the relevant items in the top 1000, ties in database order)
// and the precision@k curve — for a deephash model, for an imported Caffe model (e.g. the
// authors' KevinNet) with Caffe's preprocessing, or for a CIFAR-sized network trained here from
// scratch on the CPU.
//
//   cifar10_eval --data DIR|FOLDER|ARCHIVE (--model M.dhm | --prototxt P --caffemodel W | --train)
//
// DIR with data_batch_1..5.bin and test_batch.bin gives the paper's protocol exactly. A class
// folder or a .tar.gz of one (such as the JPEG copy of the training split) has no test split:
// --queries-per-class images of each class are held out as queries and the rest is the database.

#include <cstdio>
#include <filesystem>

#include <deephash/io/caffe/caffemodel.hpp>

#include "deephash/args.hpp"
#include "deephash/experiment.hpp"
#include "deephash/training.hpp"

using namespace deephash;
using namespace deephash::cli;

namespace {

const char* kUsage =
    "usage: cifar10_eval --data PATH (--model MODEL | --prototxt P --caffemodel W | --train) [options]\n\n"
    "  --data PATH            CIFAR-10 binary batches (the paper's protocol), or a class folder / .tar.gz\n"
    "  --model MODEL          a deephash model file\n"
    "  --prototxt P --caffemodel W\n"
    "                         a Caffe model, e.g. the paper's KevinNet; images are resized to 256x256,\n"
    "                         centre-cropped to 227, BGR, minus the mean (--mean B,G,R, default 104,117,123)\n"
    "  --latent-blob NAME     the Caffe model's sigmoid output (default fc8_kevin_encode)\n"
    "  --train                train a CIFAR-sized network from scratch first (see --epochs, --bits)\n"
    "  --epochs X --bits N    for --train (defaults 30 and 48)\n"
    "  --device cuda          train on the GPU (--math fp32|tf32|bf16)\n"
    "  --queries-per-class N  held out from a single split (default 1000)\n"
    "  --out DIR              results.json and plots (default cifar10-out)\n";

RetrievalSplit load_cifar(const std::string& data, std::size_t queries_per_class, bool* paper_protocol) {
  namespace fs = std::filesystem;
  *paper_protocol = fs::is_directory(data) && fs::exists(fs::path(data) / "test_batch.bin");
  if (*paper_protocol) return load_retrieval_split("cifar10:" + data, 0);
  return load_retrieval_split((fs::is_directory(data) ? "folder:" : "archive:") + data, queries_per_class);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args("cifar10_eval", argc, argv, 1);
    if (args.help() || argc < 2) {
      std::printf("%s", kUsage);
      return argc < 2 ? 2 : 0;
    }
    args.allow_only({"data", "model", "prototxt", "caffemodel", "latent-blob", "mean", "train", "epochs", "bits",
                     "queries-per-class", "out", "threads", "lr", "batch", "seed", "device", "math"});
    const unsigned threads = unsigned(args.get_int("threads", long(default_num_threads())));
    ThreadPool pool(threads);
    bool paper = false;
    RetrievalSplit split = load_cifar(args.required("data"), std::size_t(args.get_int("queries-per-class", 1000)), &paper);
    split.name = "cifar10";
    const RetrievalProtocol protocol = paper ? cifar10_lin2015_protocol() : map_at_k_protocol("cifar10 (training split, held-out queries)");
    std::printf("%s: %zu queries against %zu database images\n%s\n\n", protocol.name.c_str(), split.queries.size(),
                split.database.size(), protocol.description.c_str());
    std::fflush(stdout);

    HashingModel model;
    double train_seconds = 0;
    std::string method = "deephash (ours)";
    if (args.has("model")) {
      model = load_model(args.get("model"));
    } else if (args.has("prototxt")) {
      model.net = read_caffe_prototxt(args.get("prototxt"));
      model.weights = read_caffemodel(args.required("caffemodel")).weights;
      model.frontend.latent_blob = args.get("latent-blob", "fc8_kevin_encode");
      model.frontend.input_shape = {3, 227, 227};
      TransformSpec& t = model.frontend.transform;
      t.resize_height = t.resize_width = 256;
      t.crop = 227;
      t.bgr = true;
      for (int v : args.get_int_list("mean", {104, 117, 123})) t.mean_values.push_back(float(v));
      method = "Caffe model " + std::filesystem::path(args.get("caffemodel")).filename().string();
    } else if (args.has("train")) {
      TrainConfig config;
      config.arch = "cifar";
      config.epochs = 30;
      config.lr = 0.05f;
      config = train_config_from(args, config);
      TrainResult trained = train_model(split.database, config, pool);
      model = trained.model;
      train_seconds = trained.history.seconds;
      const std::string out = args.get("out", "cifar10-out");
      std::filesystem::create_directories(out);
      save_model(model, out + "/cifar10_" + std::to_string(config.bits) + "bits.dhm");
      write_training_curves(trained.history, out + "/cifar10_" + std::to_string(config.bits) + "bits.curves.svg",
                            "CIFAR-10, " + std::to_string(config.bits) + " bits");
    } else {
      throw Error("cifar10_eval", "give --model, --prototxt with --caffemodel, or --train");
    }
    const ModelEvaluation e = evaluate_model(model, split, method, train_seconds, threads);
    report({e.record}, split, args.get("out", "cifar10-out"));
    write_example_grid(args.get("out", "cifar10-out") + "/retrieval_examples.png", split, e.database, e.queries);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cifar10_eval: error: %s\n", e.what());
    return 1;
  }
}
