// deephash demo: the main job. Trains the paper's method on Fashion-MNIST from scratch, encodes
// the 60,000 training images as the database and the 10,000 test images as queries, and reports
// the retrieval quality against LSH, ITQ and Euclidean ranking.

#include <cstdio>
#include <filesystem>

#include "args.hpp"
#include "commands.hpp"
#include "experiment.hpp"
#include "training.hpp"

namespace deephash::cli {

int command_demo(int argc, char** argv) {
  const Args args("deephash demo", argc, argv, 2);
  if (args.help()) {
    std::printf(
        "usage: deephash demo [options]\n\n"
        "The paper's method end to end on Fashion-MNIST (Debian's dataset-fashion-mnist): trains a small\n"
        "CNN with a latent hash layer from scratch, encodes the 60,000 training images as the database and\n"
        "the 10,000 test images as queries, ranks by Hamming distance and reports mAP@1000 and\n"
        "precision@k next to LSH, ITQ and exact Euclidean ranking on raw pixels. Writes the models,\n"
        "training curves, results.json, precision@k plots and a retrieval grid to --out.\n\noptions:\n"
        "  --bits LIST            code lengths to train (default 48; e.g. 12,48)\n"
        "  --epochs X             (default 8)\n"
        "  --dataset SPEC         (default fashion-mnist)\n"
        "  --out DIR              (default deephash-out)\n"
        "  --device cuda         train on the GPU (builds with the GPU module); --math fp32|tf32|bf16\n"
        "  --seed N, --threads N\n");
    return 0;
  }
  args.allow_only({"bits", "epochs", "dataset", "out", "seed", "threads", "lr", "batch", "ssdh-binarization", "ssdh-balance",
                   "device", "math"});
  const unsigned threads = unsigned(args.get_int("threads", long(default_num_threads())));
  ThreadPool pool(threads);
  const std::string out = args.get("out", "deephash-out");
  std::filesystem::create_directories(out);
  const RetrievalSplit split = load_retrieval_split(args.get("dataset", "fashion-mnist"), 100);
  std::printf("%s: %zu database images, %zu queries, %dx%dx%d\n\n", split.name.c_str(), split.database.size(),
              split.queries.size(), split.database.height, split.database.width, split.database.channels);
  std::fflush(stdout);

  std::vector<ResultRecord> records;
  const std::vector<int> bit_lengths = args.get_int_list("bits", {48});
  for (int bits : bit_lengths) {
    TrainConfig config;
    config.bits = bits;
    config = train_config_from(args, config);
    config.bits = bits;
    std::printf("training a %d-bit model (%g epochs) ...\n", bits, config.epochs);
    std::fflush(stdout);
    TrainResult trained = train_model(split.database, config, pool, "train " + std::to_string(bits) + " bits");
    trained.model.description += ", trained on " + split.name;
    const std::string stem = (std::filesystem::path(out) / (split.name + "_" + std::to_string(bits) + "bits")).string();
    save_model(trained.model, stem + ".dhm");
    write_training_curves(trained.history, stem + ".curves.svg", trained.model.description);
    const ModelEvaluation e = evaluate_model(trained.model, split, "deephash (ours)", trained.history.seconds, threads);
    records.push_back(e.record);
    std::printf("\n");
    print_record(e.record);
    std::printf("wrote %s.dhm, %s.curves.svg\n\n", stem.c_str(), stem.c_str());
    if (bits == bit_lengths.back())
      write_example_grid((std::filesystem::path(out) / "retrieval_examples.png").string(), split, e.database, e.queries);
  }
  std::vector<int> baseline_bits = {12, 32, 48};
  for (int b : bit_lengths)
    if (std::find(baseline_bits.begin(), baseline_bits.end(), b) == baseline_bits.end()) baseline_bits.push_back(b);
  std::sort(baseline_bits.begin(), baseline_bits.end());
  const auto baselines = baseline_records(split, baseline_bits, true, pool);
  records.insert(records.end(), baselines.begin(), baselines.end());

  report(records, split, out);
  return 0;
}

}  // namespace deephash::cli
