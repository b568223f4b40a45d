#pragma once
// Shared by the commands that evaluate: score codes under the mAP@k protocol, collect records,
// print the paper's table, write results.json and precision@k plots.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <deephash/eval/protocol.hpp>
#include <deephash/eval/report.hpp>
#include <deephash/eval/svg_plot.hpp>

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

}  // namespace deephash::cli
