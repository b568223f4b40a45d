// deephash baselines: the unsupervised rows of the paper's table (LSH, ITQ on raw pixels) and the
// Euclidean reference, under the mAP@1000 protocol.

#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "datasets.hpp"
#include "experiment.hpp"

namespace deephash::cli {

int command_baselines(int argc, char** argv) {
  const Args args("deephash baselines", argc, argv, 2);
  if (args.help()) {
    std::printf(
        "usage: deephash baselines [options]\n\n"
        "Hashes raw pixels with LSH and ITQ at each code length, ranks the database by Hamming\n"
        "distance for every query, and reports mAP@1000 (the paper's normalisation) and precision@k;\n"
        "also exact Euclidean ranking on raw pixels as a reference. Prints the table and writes\n"
        "results.json and precision@k plots (SVG) to --out.\n\noptions:\n"
        "  --dataset SPEC          (default fashion-mnist)\n"
        "  --bits LIST             code lengths (default 12,32,48)\n"
        "  --queries-per-class N   for single-split datasets (default 100)\n"
        "  --out DIR               where reports go (default deephash-out)\n"
        "  --no-euclidean          skip the Euclidean reference\n"
        "  --threads N             (default: all cores)\n\ndatasets:\n%s",
        kDatasetHelp);
    return 0;
  }
  args.allow_only({"dataset", "bits", "queries-per-class", "out", "no-euclidean", "threads"});
  ThreadPool pool(unsigned(args.get_int("threads", long(default_num_threads()))));
  const std::string spec = args.get("dataset", "fashion-mnist");
  std::printf("loading %s ...\n", spec.c_str());
  std::fflush(stdout);
  const RetrievalSplit split = load_retrieval_split(spec, std::size_t(args.get_int("queries-per-class", 100)));
  std::printf("database %zu images, queries %zu images, %dx%dx%d\n", split.database.size(), split.queries.size(),
              split.database.height, split.database.width, split.database.channels);
  std::fflush(stdout);
  const std::vector<ResultRecord> records =
      baseline_records(split, args.get_int_list("bits", {12, 32, 48}), !args.has("no-euclidean"), pool);
  report(records, split, args.get("out", "deephash-out"));
  return 0;
}

}  // namespace deephash::cli
