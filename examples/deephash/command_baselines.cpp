// deephash baselines: the unsupervised rows of the paper's table (LSH, ITQ on raw pixels) and the
// Euclidean reference, under the mAP@1000 protocol.

#include <cstdio>

#include <deephash/core/progress.hpp>
#include <deephash/eval/baselines/itq.hpp>
#include <deephash/eval/baselines/lsh.hpp>
#include <deephash/eval/baselines/pixel_features.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "datasets.hpp"
#include "experiment.hpp"

namespace deephash::cli {

namespace {

const char* kUsage =
    "usage: deephash baselines [options]\n"
    "\n"
    "Hashes raw pixels with LSH and ITQ at each code length, ranks the database by Hamming\n"
    "distance for every query, and reports mAP@1000 (the paper's normalisation) and precision@k;\n"
    "also exact Euclidean ranking on raw pixels as a reference. Prints the table and writes\n"
    "results.json and precision@k plots (SVG) to --out.\n"
    "\n"
    "options:\n"
    "  --dataset SPEC          (default fashion-mnist)\n"
    "  --bits LIST             code lengths (default 12,32,48)\n"
    "  --queries-per-class N   for single-split datasets (default 100)\n"
    "  --out DIR               where reports go (default deephash-out)\n"
    "  --no-euclidean          skip the Euclidean reference\n"
    "  --threads N             (default: all cores)\n"
    "\n"
    "datasets:\n";

template <class Hasher>
ResultRecord run_hasher(Hasher hasher, const RetrievalSplit& split, const RowMatrixXf& db,
                        const RowMatrixXf& queries, const SingleLabelRelevance& relevance, ThreadPool& pool) {
  const auto start = std::chrono::steady_clock::now();
  hasher.fit(db, pool);
  const BitCodes db_codes = hasher.encode(db);
  const double train = seconds_since(start);
  return evaluate_codes(hasher.name(), split.name, db_codes, hasher.encode(queries), relevance, 1000, train);
}

}  // namespace

int command_baselines(int argc, char** argv) {
  const Args args("deephash baselines", argc, argv, 2);
  if (args.help()) {
    std::printf("%s%s", kUsage, kDatasetHelp);
    return 0;
  }
  args.allow_only({"dataset", "bits", "queries-per-class", "out", "no-euclidean", "threads"});
  const std::string spec = args.get("dataset", "fashion-mnist");
  const std::vector<int> bit_lengths = args.get_int_list("bits", {12, 32, 48});
  const std::string out = args.get("out", "deephash-out");
  ThreadPool pool(unsigned(args.get_int("threads", long(default_num_threads()))));

  std::printf("loading %s ...\n", spec.c_str());
  std::fflush(stdout);
  const RetrievalSplit split = load_retrieval_split(spec, std::size_t(args.get_int("queries-per-class", 100)));
  std::printf("database %zu images, queries %zu images, %dx%dx%d\n", split.database.size(), split.queries.size(),
              split.database.height, split.database.width, split.database.channels);
  std::fflush(stdout);
  const RowMatrixXf db = pixel_features(split.database);
  const RowMatrixXf queries = pixel_features(split.queries);
  const SingleLabelRelevance relevance(split.queries.labels, split.database.labels);

  std::vector<ResultRecord> records;
  ProgressBar progress("baselines", bit_lengths.size() * 2);
  for (int bits : bit_lengths) {
    records.push_back(run_hasher(LshHasher(bits), split, db, queries, relevance, pool));
    progress.update(records.size(), "LSH " + std::to_string(bits) + " bits");
    records.push_back(run_hasher(ItqHasher(bits), split, db, queries, relevance, pool));
    progress.update(records.size(), "ITQ " + std::to_string(bits) + " bits");
  }
  progress.finish();
  if (!args.has("no-euclidean")) {
    std::printf("Euclidean ranking on raw pixels (%zu x %zu distances) ...\n", split.queries.size(), split.database.size());
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    const FloatKnnResult ranked = euclidean_knn(db, queries, 1000, pool);
    const RankingScores scores = score_float_ranking(ranked, relevance, 1000, ApNormalization::RelevantRetrieved, pool);
    records.push_back(record_from("Euclidean (raw pixels)", split.name, 0, scores, 0, seconds_since(start)));
  }

  std::printf("\n%s: mAP@1000, %zu queries against %zu database images\n\n", split.name.c_str(),
              split.queries.size(), split.database.size());
  for (const auto& r : records) print_record(r);
  std::printf("\n%s", results_table(records).c_str());
  write_reports(records, out, split.name);
  return 0;
}

}  // namespace deephash::cli
