#pragma once
// Printing results: a line per method, the paper's table, and the files written.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <deephash/workflow/experiment.hpp>

namespace deephash::cli {

// What the checks of workflow/evaluation.hpp could not check, each said once, on stderr.
struct Notes {
  std::vector<std::string> lines;
  void add(const std::vector<std::string>& more) {
    for (const auto& line : more)
      if (std::find(lines.begin(), lines.end(), line) == lines.end()) lines.push_back(line);
  }
  void print() const {
    for (const auto& line : lines) std::fprintf(stderr, "note: %s\n", line.c_str());
  }
};

inline void print_record(const ResultRecord& r) {
  const std::string bits = r.bits ? std::to_string(r.bits) + " bits" : "";
  double p100 = 0;
  for (const auto& [k, p] : r.precision_at_k)
    if (k == 100) p100 = p;
  std::printf("  %-22s %9s  mAP@1000 %.4f  P@100 %.4f  (train %.1f s, eval %.2f s)\n", r.method.c_str(), bits.c_str(),
              r.map_at_1000, p100, r.train_seconds, r.eval_seconds);
  std::fflush(stdout);
}

// Each record, the paper's table, results.json and the plots.
inline void report(const std::vector<ResultRecord>& records, const RetrievalSets& sets, const std::string& out) {
  std::printf("\n%s: mAP@1000, %zu queries against %zu database images\n\n", sets.name.c_str(), sets.queries->size(),
              sets.database->size());
  for (const auto& r : records) print_record(r);
  std::printf("\n%s\n", results_table(records).c_str());
  for (const std::string& f : write_reports(records, out, sets.name)) std::printf("wrote %s\n", f.c_str());
}

// LSH and ITQ on raw pixels (and Euclidean ranking), with a progress bar.
inline std::vector<ResultRecord> run_baselines(const RetrievalSets& sets, const std::vector<int>& bits, bool euclidean,
                                               ThreadPool& pool) {
  std::fprintf(stderr, "baselines: reading the images' pixels ...\n");
  ProgressBar progress("baselines", bits.size() * 2 + (euclidean ? 1 : 0));
  std::size_t done = 0;
  auto records = baseline_records(sets, bits, euclidean, pool, [&](const ResultRecord& r) {
    progress.update(++done, r.method + (r.bits ? " " + std::to_string(r.bits) + " bits" : ""));
  });
  progress.finish();
  return records;
}

}  // namespace deephash::cli
