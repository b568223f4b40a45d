// deephash eval: models against LSH and ITQ, the paper's table.

#include <cstdio>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "experiment.hpp"

namespace deephash::cli {

int command_eval(int argc, char** argv) {
  const Args args("deephash eval", argc, argv, 2);
  if (args.help()) {
    std::printf(
        "usage: deephash eval --dataset SPEC --model MODEL[,MODEL...] [options]\n\n"
        "Encodes the database and query images with each model, ranks the database by Hamming\n"
        "distance for every query (ties in database order) and reports mAP@1000 (the paper's\n"
        "normalisation) and precision@k, next to LSH and ITQ on raw pixels at the same code lengths.\n"
        "Prints the paper-style table; writes results.json, precision@k plots (SVG) and a retrieval\n"
        "grid (PNG) to --out.\n\noptions:\n"
        "  --baselines LIST       code lengths for LSH and ITQ (default: those of the models); 'none' to skip\n"
        "  --euclidean            add exact Euclidean ranking on raw pixels\n"
        "  --queries-per-class N  for single-split datasets (default 100)\n"
        "  --out DIR              (default deephash-out)\n"
        "  --threads N\n\ndatasets:\n%s",
        kDatasetHelp);
    return 0;
  }
  args.allow_only({"dataset", "model", "baselines", "euclidean", "queries-per-class", "out", "threads"});
  const unsigned threads = unsigned(args.get_int("threads", long(default_num_threads())));
  ThreadPool pool(threads);
  const std::string out = args.get("out", "deephash-out");
  const RetrievalSplit split = load_retrieval_split(args.required("dataset"), std::size_t(args.get_int("queries-per-class", 100)));
  std::vector<ResultRecord> records;
  std::vector<int> bits;
  std::stringstream models(args.required("model"));
  std::string path;
  bool first = true;
  while (std::getline(models, path, ',')) {
    const HashingModel model = load_model(path);
    const ModelEvaluation e = evaluate_model(model, split, "deephash (ours)", 0, threads);
    records.push_back(e.record);
    bits.push_back(e.record.bits);
    print_record(e.record);
    if (first) {
      std::filesystem::create_directories(out);
      write_example_grid((std::filesystem::path(out) / "retrieval_examples.png").string(), split, e.database, e.queries);
      first = false;
    }
  }
  if (args.get("baselines") != "none") {
    const auto more = baseline_records(split, args.get_int_list("baselines", bits), args.has("euclidean"), pool);
    records.insert(records.end(), more.begin(), more.end());
  }
  report(records, split, out);
  return 0;
}

}  // namespace deephash::cli
