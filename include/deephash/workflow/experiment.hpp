#pragma once
// A retrieval experiment as the paper reports it: a model's codes scored against the database
// under a protocol, next to the unsupervised baselines (LSH and ITQ on raw pixels) and exact
// Euclidean ranking, written as results.json, precision@k plots (SVG) and a picture of
// retrievals (PNG). What `deephash demo` and `eval` print is made here.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "deephash/data/batch_stream.hpp"
#include "deephash/data/locator.hpp"
#include "deephash/eval/baselines/itq.hpp"
#include "deephash/eval/baselines/lsh.hpp"
#include "deephash/eval/baselines/pixel_features.hpp"
#include "deephash/eval/report.hpp"
#include "deephash/eval/retrieval_grid.hpp"
#include "deephash/eval/svg_plot.hpp"
#include "deephash/nn/hashing_model.hpp"
#include "deephash/workflow/encoding.hpp"
#include "deephash/workflow/evaluation.hpp"
#include "deephash/workflow/sets.hpp"
#include "deephash/workflow/shared_network.hpp"

namespace deephash {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline ResultRecord result_record(const std::string& method, const std::string& dataset, int bits, const RankingScores& scores,
                                  double train_seconds, double eval_seconds) {
  ResultRecord r{method, dataset, bits, scores.map, {}, train_seconds, eval_seconds};
  for (std::size_t i = 0; i < scores.cutoffs.size(); ++i) r.precision_at_k.emplace_back(scores.cutoffs[i], scores.precision[i]);
  return r;
}

// A model's database and query codes, and their scores.
struct ModelEvaluation {
  ResultRecord record;
  EncodedSet database, queries;
};

namespace detail {

// Encodes both sets with the model (streaming their images) into e.database and e.queries.
inline ModelEvaluation encode_sets(const HashingModel& model, const RetrievalSets& sets, unsigned threads,
                                   EncodeOptions options) {
  auto frontend = model.make_frontend(threads);
  ModelEvaluation e;
  options.label = "encode database";
  e.database = encode_source(*frontend, *sets.database, sets.database_provenance(), options);
  options.label = "encode queries";
  e.queries = encode_source(*frontend, *sets.queries, sets.queries_provenance(), options);
  return e;
}

inline void score_sets(ModelEvaluation& e, const RetrievalSets& sets, const std::string& method, double train_seconds,
                       unsigned threads) {
  const ProtocolResult r = evaluate_encoded(e.database, e.queries, protocol_for(e.database, e.queries, sets.name), threads);
  e.record = result_record(method, sets.name, e.database.codes.bits(), r.scores, train_seconds, r.seconds);
}

// One model's set out of a set encoded by several models' hash layers side by side: its columns
// of the codes, recorded as that model's.
inline EncodedSet code_columns(const EncodedSet& all, int first, int bits, const std::string& model) {
  EncodedSet s = all;
  s.codes = all.codes.bit_columns(first, bits);
  s.model = model;
  return s;
}

}  // namespace detail

// Encodes both sets with the model (streaming their images) and scores the queries' rankings.
inline ModelEvaluation evaluate_model(const HashingModel& model, const RetrievalSets& sets, const std::string& method,
                                      double train_seconds, unsigned threads, EncodeOptions options = {}) {
  ModelEvaluation e = detail::encode_sets(model, sets, threads, std::move(options));
  detail::score_sets(e, sets, method, train_seconds, threads);
  return e;
}

// The same for several models (train_seconds: one per model): where they share their network
// below the hash layers (workflow/shared_network.hpp: the code lengths of one recipe), both sets
// go through it once for all of them; else model by model. The codes are the same either way.
inline std::vector<ModelEvaluation> evaluate_models(const std::vector<const HashingModel*>& models, const RetrievalSets& sets,
                                                    const std::string& method, const std::vector<double>& train_seconds,
                                                    unsigned threads, EncodeOptions options = {}) {
  if (train_seconds.size() != models.size())
    throw Error("evaluate_models", std::to_string(models.size()) + " models and " + std::to_string(train_seconds.size()) +
                                       " training times");
  std::vector<ModelEvaluation> out;
  const std::optional<SharedNetwork> shared = share_network(models);
  if (!shared) {
    for (std::size_t i = 0; i < models.size(); ++i)
      out.push_back(evaluate_model(*models[i], sets, method, train_seconds[i], threads, options));
    return out;
  }
  const ModelEvaluation all = detail::encode_sets(shared->model, sets, threads, std::move(options));
  for (std::size_t i = 0; i < models.size(); ++i) {
    const int first = shared->offsets[i], bits = shared->offsets[i + 1] - first;
    const std::string digest = model_digest(*models[i]);
    ModelEvaluation e;
    e.database = detail::code_columns(all.database, first, bits, digest);
    e.queries = detail::code_columns(all.queries, first, bits, digest);
    detail::score_sets(e, sets, method, train_seconds[i], threads);
    out.push_back(std::move(e));
  }
  return out;
}

// Codes of some other hashing method, scored like a model's.
inline ResultRecord score_codes(const std::string& method, const std::string& dataset, const BitCodes& database,
                                const BitCodes& queries, const SingleLabelRelevance& relevance, double train_seconds,
                                unsigned threads) {
  HammingIndex index(database.bits(), threads);
  index.add(database);
  const ProtocolResult r = evaluate_protocol(map_at_k_protocol(dataset), index, queries, relevance);
  return result_record(method, dataset, database.bits(), r.scores, train_seconds, r.seconds);
}

// LSH and ITQ on raw pixels at each code length, and optionally exact Euclidean ranking. These
// need every image's pixels at once: the sets are read into memory.
template <class OnProgress>
std::vector<ResultRecord> baseline_records(const RetrievalSets& sets, const std::vector<int>& bit_lengths, bool euclidean,
                                           ThreadPool& pool, OnProgress&& on_progress) {
  DecodeOptions decode;
  const auto size = stored_image_size(*sets.database);
  decode.resize_height = size.first;
  decode.resize_width = size.second;
  const RowMatrixXf db = pixel_features(read_into_memory(*sets.database, decode));
  const RowMatrixXf queries = pixel_features(read_into_memory(*sets.queries, decode));
  const SingleLabelRelevance relevance(sets.queries->labels(), sets.database->labels());
  std::vector<ResultRecord> records;
  auto run = [&](auto hasher) {
    const auto start = std::chrono::steady_clock::now();
    hasher.fit(db, pool);
    const BitCodes db_codes = hasher.encode(db);
    const double train = seconds_since(start);
    records.push_back(score_codes(hasher.name(), sets.name, db_codes, hasher.encode(queries), relevance, train, pool.num_threads()));
    on_progress(records.back());
  };
  for (int bits : bit_lengths) {
    run(LshHasher(bits));
    run(ItqHasher(bits));
  }
  if (euclidean) {
    const auto start = std::chrono::steady_clock::now();
    const FloatKnnResult ranked = euclidean_knn(db, queries, 1000, pool);
    const RankingScores scores = score_float_ranking(ranked, relevance, 1000, ApNormalization::RelevantRetrieved, pool);
    records.push_back(result_record("Euclidean (raw pixels)", sets.name, 0, scores, 0, seconds_since(start)));
    on_progress(records.back());
  }
  return records;
}

// results.json and one precision@k plot per code length (every method with codes of that
// length, plus those without codes); returns the files written.
inline std::vector<std::string> write_reports(const std::vector<ResultRecord>& records, const std::string& out_dir,
                                              const std::string& dataset) {
  std::filesystem::create_directories(out_dir);
  std::vector<std::string> written = {(std::filesystem::path(out_dir) / "results.json").string()};
  write_results_json(records, written.back());
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
  for (auto& [bits, series] : by_bits) {
    series.insert(series.end(), codeless.begin(), codeless.end());
    written.push_back((std::filesystem::path(out_dir) / ("precision_at_k_" + std::to_string(bits) + "bits.svg")).string());
    write_line_plot_svg(written.back(), series,
                        {dataset + ": precision@k, " + std::to_string(bits) + "-bit codes", "k (number of retrieved images)",
                         "precision", 720, 480, false});
  }
  return written;
}

// The top-k results of a few queries spread over the query set, one row each, as a PNG. The
// images are read back through the sets' locators.
inline void write_example_grid(const std::string& path, const EncodedSet& database, const EncodedSet& queries,
                               std::size_t examples = 6, idx_t k = 10) {
  if (database.paths.empty() || queries.paths.empty())
    throw Error(path, "the encoded sets do not say where their images are: no retrieval grid");
  HammingIndex index(database.codes.bits());
  index.add(database.codes);
  std::vector<std::string> wanted;
  std::vector<std::vector<Match>> matches;
  for (std::size_t e = 0; e < examples && e < queries.codes.size(); ++e) {
    const std::size_t q = e * queries.codes.size() / examples;
    const KnnResult r = index.search(queries.codes.slice(q, q + 1), k);
    wanted.push_back(queries.paths[q]);
    matches.emplace_back();
    for (idx_t j = 0; j < k && r.label(0, j) >= 0; ++j) {
      const std::size_t id = std::size_t(r.label(0, j));
      wanted.push_back(database.paths[id]);
      matches.back().push_back(database.labels[id] == queries.labels[q] ? Match::Relevant : Match::Irrelevant);
    }
  }
  const std::vector<Image> images = read_images_at(wanted, 3);  // one pass per archive
  std::vector<Image> rows;
  std::size_t next = 0;
  for (const auto& row_matches : matches) {
    const Image& query = images[next++];
    std::vector<ImageView> results;
    for (std::size_t j = 0; j < row_matches.size(); ++j) results.push_back(images[next++]);
    rows.push_back(retrieval_grid(query, results, row_matches, 72, int(k)));
  }
  write_png(path, stack_vertically(std::vector<ImageView>(rows.begin(), rows.end())));
}

}  // namespace deephash
