// deephash train: a hashing model from labelled images.

#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "datasets.hpp"
#include "training.hpp"

namespace deephash::cli {

int command_train(int argc, char** argv) {
  const Args args("deephash train", argc, argv, 2);
  if (args.help()) {
    std::printf(
        "usage: deephash train --dataset SPEC --out MODEL [options]\n\n"
        "Trains a CNN with a latent hash layer (the paper's method) on the database split of a dataset\n"
        "and writes a model file (network, weights, input transformation, class names), its training\n"
        "curves (MODEL.curves.svg) and, if asked, a snapshot to resume from.\n\noptions:\n%s"
        "  --queries-per-class N held out of single-split datasets (default 100), not trained on\n"
        "  --threads N\n\ndatasets:\n%s",
        kTrainHelp, kDatasetHelp);
    return 0;
  }
  std::set<std::string> allowed = kTrainOptions;
  allowed.insert({"dataset", "out", "queries-per-class", "threads"});
  args.allow_only(allowed);
  const std::string out = args.required("out");
  const TrainConfig config = train_config_from(args);
  ThreadPool pool(unsigned(args.get_int("threads", long(default_num_threads()))));
  const RetrievalSplit split = load_retrieval_split(args.required("dataset"), std::size_t(args.get_int("queries-per-class", 100)));
  std::printf("training on %zu images (%dx%dx%d, %d classes)\n", split.database.size(), split.database.height,
              split.database.width, split.database.channels, split.database.num_classes());
  std::fflush(stdout);
  TrainResult r = train_model(split.database, config, pool);
  r.model.description += ", trained on " + split.name;
  save_model(r.model, out);
  write_training_curves(r.history, out + ".curves.svg", r.model.description);
  std::printf("wrote %s (%.0f s of training) and %s.curves.svg\n", out.c_str(), r.history.seconds, out.c_str());
  return 0;
}

}  // namespace deephash::cli
