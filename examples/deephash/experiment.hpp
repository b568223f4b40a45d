#pragma once
// Shared by the commands that evaluate: score codes under the mAP@k protocol, collect records,
// print the paper's table, write results.json and precision@k plots.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <deephash/core/progress.hpp>
#include <deephash/eval/baselines/itq.hpp>
#include <deephash/eval/baselines/lsh.hpp>
#include <deephash/eval/baselines/pixel_features.hpp>
#include <deephash/eval/protocol.hpp>
#include <deephash/eval/report.hpp>
#include <deephash/eval/retrieval_grid.hpp>
#include <deephash/eval/svg_plot.hpp>
#include <deephash/search/euclidean_knn.hpp>

#include "datasets.hpp"
#include "encoding.hpp"

namespace deephash::cli {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline ResultRecord record_from(const std::string& method, const std::string& dataset, int bits,
                                const RankingScores& scores, double train_seconds, double eval_seconds) {
  ResultRecord r{method, dataset, bits, scores.map, {}, train_seconds, eval_seconds};
  for (std::size_t i = 0; i < scores.cutoffs.size(); ++i) r.precision_at_k.emplace_back(scores.cutoffs[i], scores.precision[i]);
  return r;
}

// Builds an index over the database codes and scores the queries' rankings (mAP@k, P@k).
inline ResultRecord evaluate_codes(const std::string& method, const std::string& dataset,
                                   const BitCodes& database, const BitCodes& queries,
                                   const SingleLabelRelevance& relevance, idx_t k, double train_seconds) {
  const auto start = std::chrono::steady_clock::now();
  HammingIndex index(database.bits());
  index.add(database);
  const RankingScores scores = evaluate_hamming_ranking(index, queries, relevance, k);
  return record_from(method, dataset, database.bits(), scores, train_seconds, seconds_since(start));
}

inline void print_record(const ResultRecord& r) {
  const std::string bits = r.bits ? std::to_string(r.bits) + " bits" : "";
  std::printf("  %-22s %9s  mAP@1000 %.4f  P@100 %.4f  (train %.1f s, eval %.2f s)\n", r.method.c_str(),
              bits.c_str(), r.map_at_1000,
              [&] {
                for (const auto& [k, p] : r.precision_at_k)
                  if (k == 100) return p;
                return 0.0;
              }(),
              r.train_seconds, r.eval_seconds);
  std::fflush(stdout);
}

// results.json, and one precision@k plot per code length (every method with codes of that
// length, plus those without codes).
inline void write_reports(const std::vector<ResultRecord>& records, const std::string& out_dir,
                          const std::string& dataset) {
  std::filesystem::create_directories(out_dir);
  const std::string json = (std::filesystem::path(out_dir) / "results.json").string();
  write_results_json(records, json);
  std::map<int, std::vector<PlotSeries>> by_bits;
  std::vector<PlotSeries> codeless;
  for (const ResultRecord& r : records) {
    PlotSeries s{r.method, {}, {}};
    for (const auto& [k, p] : r.precision_at_k) {
      s.x.push_back(double(k));
      s.y.push_back(p);
    }
    (r.bits ? by_bits[r.bits] : codeless).push_back(s);
  }
  std::printf("\nwrote %s\n", json.c_str());
  for (auto& [bits, series] : by_bits) {
    series.insert(series.end(), codeless.begin(), codeless.end());
    const std::string svg = (std::filesystem::path(out_dir) / ("precision_at_k_" + std::to_string(bits) + "bits.svg")).string();
    write_line_plot_svg(svg, series,
                        {dataset + ": precision@k, " + std::to_string(bits) + "-bit codes",
                         "k (number of retrieved images)", "precision", 720, 480, false});
    std::printf("wrote %s\n", svg.c_str());
  }
}

// Everything a run reports: each record, the paper's table, results.json and the plots.
inline void report(const std::vector<ResultRecord>& records, const RetrievalSplit& split, const std::string& out) {
  std::printf("\n%s: mAP@1000, %zu queries against %zu database images\n\n", split.name.c_str(), split.queries.size(),
              split.database.size());
  for (const auto& r : records) print_record(r);
  std::printf("\n%s", results_table(records).c_str());
  write_reports(records, out, split.name);
}

// Encodes the split with the model and scores it like any other method.
struct ModelEvaluation {
  ResultRecord record;
  EncodedSet database, queries;
};

inline ModelEvaluation evaluate_model(const HashingModel& model, const RetrievalSplit& split, const std::string& method,
                                      double train_seconds, unsigned threads) {
  auto frontend = model.make_frontend(threads);
  ModelEvaluation e;
  e.database = encode_split(*frontend, split.database, split.name, "database", false);
  e.queries = encode_split(*frontend, split.queries, split.name, "queries", false);
  e.record = evaluate_codes(method, split.name, e.database.codes, e.queries.codes,
                            SingleLabelRelevance(split.queries.labels, split.database.labels), 1000, train_seconds);
  return e;
}

// LSH and ITQ on raw pixels at each code length, and optionally exact Euclidean ranking.
inline std::vector<ResultRecord> baseline_records(const RetrievalSplit& split, const std::vector<int>& bit_lengths,
                                                  bool euclidean, ThreadPool& pool) {
  const RowMatrixXf db = pixel_features(split.database);
  const RowMatrixXf queries = pixel_features(split.queries);
  const SingleLabelRelevance relevance(split.queries.labels, split.database.labels);
  std::vector<ResultRecord> records;
  auto run = [&](auto hasher) {
    const auto start = std::chrono::steady_clock::now();
    hasher.fit(db, pool);
    const BitCodes db_codes = hasher.encode(db);
    const double train = seconds_since(start);
    records.push_back(evaluate_codes(hasher.name(), split.name, db_codes, hasher.encode(queries), relevance, 1000, train));
  };
  ProgressBar progress("baselines", bit_lengths.size() * 2);
  for (int bits : bit_lengths) {
    run(LshHasher(bits));
    progress.update(records.size(), "LSH " + std::to_string(bits) + " bits");
    run(ItqHasher(bits));
    progress.update(records.size(), "ITQ " + std::to_string(bits) + " bits");
  }
  progress.finish();
  if (euclidean) {
    std::fprintf(stderr, "Euclidean ranking on raw pixels (%zu x %zu distances) ...\n", split.queries.size(),
                 split.database.size());
    const auto start = std::chrono::steady_clock::now();
    const FloatKnnResult ranked = euclidean_knn(db, queries, 1000, pool);
    const RankingScores scores = score_float_ranking(ranked, relevance, 1000, ApNormalization::RelevantRetrieved, pool);
    records.push_back(record_from("Euclidean (raw pixels)", split.name, 0, scores, 0, seconds_since(start)));
  }
  return records;
}

// The top-k results of the first few queries, one row each, as a PNG.
inline void write_example_grid(const std::string& path, const RetrievalSplit& split, const EncodedSet& database,
                               const EncodedSet& queries, std::size_t examples = 6, idx_t k = 10) {
  HammingIndex index(database.codes.bits());
  index.add(database.codes);
  std::vector<Image> rows;
  // Spread the examples over the query set, so that several classes show.
  for (std::size_t e = 0; e < examples && e < queries.codes.size(); ++e) {
    const std::size_t q = e * queries.codes.size() / examples;
    const KnnResult r = index.search(queries.codes.slice(q, q + 1), k);
    std::vector<ImageView> results;
    std::vector<Match> matches;
    for (idx_t j = 0; j < k && r.label(0, j) >= 0; ++j) {
      const std::size_t id = std::size_t(r.label(0, j));
      results.push_back(split.database.view(id));
      matches.push_back(split.database.labels[id] == split.queries.labels[q] ? Match::Relevant : Match::Irrelevant);
    }
    rows.push_back(retrieval_grid(split.queries.view(q), results, matches, 72, int(k)));
  }
  write_png(path, stack_vertically(std::vector<ImageView>(rows.begin(), rows.end())));
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace deephash::cli
