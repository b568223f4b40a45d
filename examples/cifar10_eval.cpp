// The paper's CIFAR-10 protocol end to end, on the library API alone: 10,000 test queries
// against the 50,000 training images, mAP@1000 (AP divided by the relevant items in the top
// 1000, ties in database order) and the precision@k curve — for a deephash model, for an
// imported Caffe model (e.g. the authors' KevinNet) with Caffe's preprocessing, or for a
// CIFAR-sized network trained here from scratch.
//
//   cifar10_eval --data SPEC (--model M.dhm | --prototxt P --caffemodel W | --train) [options]
//
// --data cifar10:DIR (binary batches with test_batch.bin) gives the paper's protocol exactly. A
// collection of one set — such as the JPEG copy of the training split, archive:FILE.tar.gz —
// has its queries held out by the library's one hold-out rule (1,000 per class: 10,000 against
// 40,000), the same rule `deephash train`, `encode`, `eval` and `search` use.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/io/caffe/prototxt.hpp>
#include <deephash/workflow/experiment.hpp>
#include <deephash/workflow/recipe.hpp>

using namespace deephash;

namespace {

const char* kUsage =
    "usage: cifar10_eval --data SPEC (--model MODEL | --prototxt P --caffemodel W | --train) [options]\n\n"
    "  --data SPEC            cifar10:DIR (binary batches: the paper's protocol), or a collection of one\n"
    "                         set, e.g. archive:cifar10-train-jpg.tar.gz (queries held out, 1000 per class)\n"
    "  --model MODEL          a deephash model file\n"
    "  --prototxt P --caffemodel W\n"
    "                         a Caffe model, e.g. the paper's KevinNet; images are resized to 256x256,\n"
    "                         centre-cropped to 227, BGR, minus the mean 104,117,123\n"
    "  --latent-blob NAME     the Caffe model's sigmoid output (default fc8_kevin_encode)\n"
    "  --train                train a CIFAR-sized network from scratch first\n"
    "  --epochs X --bits N    for --train (defaults 9 and 48); also --lr, --batch, --seed, --device cuda\n"
    "  --queries-per-class N  held out of a single set (default 1000)\n"
    "  --threads N            (default: all cores)\n"
    "  --out DIR              results.json, plots and a retrieval grid (default cifar10-out)\n";

// --name value pairs and --flag switches: all this example needs.
std::map<std::string, std::string> parse(int argc, char** argv) {
  std::map<std::string, std::string> options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) throw Error("cifar10_eval", "unexpected argument '" + a + "'\n" + kUsage);
    const bool has_value = i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0;
    options[a.substr(2)] = has_value ? argv[++i] : "";
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto options = parse(argc, argv);
    auto get = [&](const std::string& name, const std::string& fallback = "") {
      const auto it = options.find(name);
      return it == options.end() ? fallback : it->second;
    };
    if (options.count("help") || argc < 2) {
      std::printf("%s", kUsage);
      return argc < 2 ? 2 : 0;
    }
    const unsigned threads = unsigned(std::stoul(get("threads", std::to_string(default_num_threads()))));
    ThreadPool pool(threads);
    HoldOutRule rule;
    rule.queries_per_class = std::stoul(get("queries-per-class", "1000"));
    const RetrievalSets sets = open_retrieval_sets(get("data"), rule, SourceOptions{options.count("train") > 0});
    std::printf("%s: %zu queries against %zu database images%s\n\n", sets.name.c_str(), sets.queries->size(),
                sets.database->size(), sets.holdout.empty() ? "" : (" (held out " + sets.holdout + ")").c_str());
    std::fflush(stdout);

    HashingModel model;
    double train_seconds = 0;
    std::string method = "deephash (ours)";
    const std::string out = get("out", "cifar10-out");
    std::filesystem::create_directories(out);
    if (options.count("model")) {
      model = load_model(get("model"));
    } else if (options.count("prototxt")) {
      model.net = read_caffe_prototxt(get("prototxt"));
      model.weights = read_caffemodel(get("caffemodel")).weights;
      model.frontend = caffe_imagenet_frontend();
      model.frontend.latent_blob = get("latent-blob", "fc8_kevin_encode");
      model.frontend.feature_blob.clear();
      method = "Caffe model " + std::filesystem::path(get("caffemodel")).filename().string();
    } else if (options.count("train")) {
      TrainConfig config;
      config.arch = "cifar";
      // deephash train's defaults, the CIFAR preset's recipe.
      if (options.count("epochs")) config.epochs = std::stod(get("epochs"));
      config.bits = std::stoi(get("bits", "48"));
      if (options.count("lr")) config.lr = std::stof(get("lr"));
      config.batch = std::stoi(get("batch", std::to_string(config.batch)));
      config.seed = std::stoull(get("seed", "1"));
      config.device = get("device", "cpu");
      config.math = get("math", "fp32");
      const TrainResult trained = train_hashing_model(*sets.training, config, pool);
      model = trained.model;
      train_seconds = trained.history.seconds;
      const std::string stem = out + "/cifar10_" + std::to_string(config.bits) + "bits";
      save_model(model, stem + ".dhm");
      write_training_curves(trained.history, stem + ".curves.svg", "CIFAR-10, " + std::to_string(config.bits) + " bits");
    } else {
      throw Error("cifar10_eval", std::string("give --model, --prototxt with --caffemodel, or --train\n") + kUsage);
    }
    const ModelEvaluation e = evaluate_model(model, sets, method, train_seconds, threads);
    const RetrievalProtocol protocol = protocol_for(e.database, e.queries, sets.name);
    std::printf("\n%s\n%s\n\n", protocol.name.c_str(), protocol.description.c_str());
    std::printf("%s\n", results_table({e.record}).c_str());
    for (const std::string& f : write_reports({e.record}, out, sets.name)) std::printf("wrote %s\n", f.c_str());
    write_example_grid(out + "/retrieval_examples.png", e.database, e.queries);
    std::printf("wrote %s/retrieval_examples.png\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cifar10_eval: error: %s\n", e.what());
    return 1;
  }
}
