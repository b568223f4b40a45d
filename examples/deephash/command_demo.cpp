// deephash demo: the main job. Trains the paper's method on Fashion-MNIST from scratch, encodes
// the 60,000 training images as the database and the 10,000 test images as queries, and reports
// the retrieval quality against LSH, ITQ and Euclidean ranking.

#include <cstdio>
#include <filesystem>

#include "command.hpp"
#include "commands.hpp"
#include "report.hpp"

namespace deephash::cli {

int command_demo(int argc, char** argv, Job&) {
  Options options = image_set_options();
  options.insert(options.end(), {{"bits", "LIST", "code lengths (default 12,32,48: the paper's; one network, new hash layers per length)"},
                                 {"epochs", "X", "(default: the architecture's, 6 for fashion-mnist)"},
                                 {"lr", "X", "(default 0.1)"},
                                 {"batch", "N", "(default 64)"},
                                 {"seed", "N", "(default 1)"},
                                 {"ssdh-binarization", "X", "the SSDH losses' weights (default 0: off)"},
                                 {"ssdh-balance", "X", ""},
                                 {"device", "D", "cuda: train on the GPU (builds with the GPU module)"},
                                 {"math", "M", "auto (default: bf16 on a CPU with AVX-512 BF16, else fp32; with a time budget, the\n"
                                                "faster of the two on the pilot), fp32, bf16, or tf32 on the GPU"},
                                 {"out", "DIR", "(default deephash-out)"},
                                 threads_option()});
  const CommandSpec spec{"demo", "[options]",
                         "The paper's method end to end on Fashion-MNIST (Debian's dataset-fashion-mnist): trains a small\n"
                         "CNN with a latent hash layer from scratch, encodes the 60,000 training images as the database and\n"
                         "the 10,000 test images as queries, ranks by Hamming distance and reports mAP@1000 and\n"
                         "precision@k next to LSH, ITQ and exact Euclidean ranking on raw pixels. Writes the models,\n"
                         "training curves, results.json, precision@k plots and a retrieval grid to --out.",
                         {options},
                         true};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const unsigned threads = threads_from(args);
  ThreadPool pool(threads);
  const std::string out = args.get("out", "deephash-out");
  std::filesystem::create_directories(out);
  const RetrievalSets sets = sets_from(args, {true}, "fashion-mnist");
  print_sets(sets);
  std::printf("\n");

  std::vector<ResultRecord> records;
  const std::vector<int> bit_lengths = args.get_int_list("bits", {12, 32, 48});
  const TrainConfig config = train_config_from(args, {}, true);
  std::string lengths;
  for (int bits : bit_lengths) lengths += (lengths.empty() ? "" : ", ") + std::to_string(bits);
  std::printf("training (%s bits) ...\n", lengths.c_str());
  std::fflush(stdout);
  std::vector<TrainResult> trained = train_hashing_models(*sets.training, config, bit_lengths, pool);
  std::vector<const HashingModel*> models;
  std::vector<double> train_seconds;
  for (std::size_t i = 0; i < bit_lengths.size(); ++i) {
    TrainResult& t = trained[i];
    t.model.description += ", trained on " + sets.name;
    const std::string stem = (std::filesystem::path(out) / (sets.name + "_" + std::to_string(bit_lengths[i]) + "bits")).string();
    save_model(t.model, stem + ".dhm");
    write_training_curves(t.history, stem + ".curves.svg", t.model.description);
    std::printf("wrote %s.dhm, %s.curves.svg\n", stem.c_str(), stem.c_str());
    models.push_back(&t.model);
    train_seconds.push_back(t.history.seconds);
  }
  // The code lengths share their network (one first stage, hash layers per length): the images
  // go through it once for all of them.
  const std::vector<ModelEvaluation> evaluations = evaluate_models(models, sets, "deephash (ours)", train_seconds, threads);
  std::printf("\n");
  for (const ModelEvaluation& e : evaluations) {
    records.push_back(e.record);
    print_record(e.record);
  }
  const std::string grid = (std::filesystem::path(out) / "retrieval_examples.png").string();
  write_example_grid(grid, evaluations.back().database, evaluations.back().queries);
  std::printf("wrote %s\n\n", grid.c_str());
  std::vector<int> baseline_bits = {12, 32, 48};
  for (int b : bit_lengths)
    if (std::find(baseline_bits.begin(), baseline_bits.end(), b) == baseline_bits.end()) baseline_bits.push_back(b);
  std::sort(baseline_bits.begin(), baseline_bits.end());
  const auto baselines = run_baselines(sets, baseline_bits, true, pool);
  records.insert(records.end(), baselines.begin(), baselines.end());
  report(records, sets, out);
  return 0;
}

}  // namespace deephash::cli
