// Metrics on hand-computed cases, the tie rule, and the evaluation pipeline against brute force.
#include <doctest/doctest.h>

#include <deephash/eval/protocol.hpp>
#include <deephash/search/coarse_to_fine.hpp>
#include <deephash/search/hamming_index.hpp>

#include "support.hpp"

using namespace deephash;

namespace {
// Database labels 0..: relevance by class.
SingleLabelRelevance one_query(int query_label, std::vector<int> db) {
  return SingleLabelRelevance({query_label}, std::move(db));
}
}  // namespace

TEST_CASE("average precision: the three normalisations on a hand-computed ranking") {
  // Ranking (ids): 0 1 2 3 4 ; relevant (label 1): ids 0, 2, 4 among top 5; one more relevant (5)
  // in the database but not ranked.
  const auto rel = one_query(1, {1, 0, 1, 0, 1, 1});
  const idx_t ranked[] = {0, 1, 2, 3, 4};
  // Precision at relevant ranks: 1/1, 2/3, 3/5 -> sum = 1 + 0.6667 + 0.6 = 2.266667
  const double sum = 1.0 + 2.0 / 3.0 + 3.0 / 5.0;
  CHECK(average_precision(ranked, 5, 0, rel, ApNormalization::RelevantRetrieved) ==
        doctest::Approx(sum / 3));
  CHECK(average_precision(ranked, 5, 0, rel, ApNormalization::MinRelevantK) ==
        doctest::Approx(sum / 4));  // min(R = 4, k = 5)
  CHECK(average_precision(ranked, 3, 0, rel, ApNormalization::MinRelevantK) ==
        doctest::Approx((1.0 + 2.0 / 3.0) / 3));  // min(4, 3)
  CHECK(average_precision(ranked, 5, 0, rel, ApNormalization::AllRelevant) == doctest::Approx(sum / 4));
  CHECK(precision_at(ranked, 5, 0, rel) == doctest::Approx(0.6));
  CHECK(precision_at(ranked, 2, 0, rel) == doctest::Approx(0.5));
}

TEST_CASE("average precision is 0, not NaN, when nothing relevant is retrieved") {
  const auto rel = one_query(2, {0, 1, 2});
  const idx_t ranked[] = {0, 1};
  CHECK(average_precision(ranked, 2, 0, rel, ApNormalization::RelevantRetrieved) == 0.0);
  const auto none = one_query(7, {0, 1, 2});
  CHECK(average_precision(ranked, 2, 0, none, ApNormalization::AllRelevant) == 0.0);
  const idx_t missing[] = {-1, -1};
  CHECK(precision_at(missing, 2, 0, rel) == 0.0);
}

TEST_CASE("ties in Hamming distance keep database order, which changes AP") {
  // Query 0000; database: id0 = 0011 (d2, irrelevant), id1 = 0001 (d1, irrelevant),
  // id2 = 0100 (d1, relevant). Ranking: id1 (d1), id2 (d1), id0 (d2). The tie between ids 1 and 2
  // puts the irrelevant one first: AP@2 (paper) = (1/2) / 1 = 0.5; a sort that broke ties the
  // other way would give 1.0.
  BitCodes db(3, 4), q(1, 4);
  db.set_bit(0, 0, true); db.set_bit(0, 1, true);
  db.set_bit(1, 0, true);
  db.set_bit(2, 2, true);
  HammingIndex index(4, 1);
  index.add(db);
  const SingleLabelRelevance rel({1}, {0, 0, 1});
  const RankingScores s = evaluate_hamming_ranking(index, q, rel, 2, ApNormalization::RelevantRetrieved, {1, 2});
  CHECK(s.map == doctest::Approx(0.5));
  CHECK(s.precision[0] == doctest::Approx(0.0));
  CHECK(s.precision[1] == doctest::Approx(0.5));
}

TEST_CASE("mAP@k from codes equals a brute-force stable-sort evaluation") {
  const int bits = 32;
  const BitCodes db = test::random_codes(3000, bits, 31, 50);
  const BitCodes queries = test::random_codes(40, bits, 32, 50);
  std::vector<int> db_labels(db.size()), q_labels(queries.size());
  for (std::size_t i = 0; i < db.size(); ++i) db_labels[i] = int(db.code(i)[0] % 5);
  for (std::size_t i = 0; i < queries.size(); ++i) q_labels[i] = int(queries.code(i)[0] % 5);
  const SingleLabelRelevance rel(q_labels, db_labels);
  HammingIndex index(bits, 2);
  index.add(db);
  for (auto norm : {ApNormalization::RelevantRetrieved, ApNormalization::MinRelevantK, ApNormalization::AllRelevant}) {
    const RankingScores s = evaluate_hamming_ranking(index, queries, rel, 100, norm);
    double expected = 0;
    for (std::size_t q = 0; q < queries.size(); ++q) {
      const auto ranking = test::brute_force_ranking(db, queries, q);
      double sum = 0;
      std::size_t hits = 0;
      for (std::size_t i = 0; i < 100; ++i)
        if (db_labels[std::size_t(ranking[i].id)] == q_labels[q]) sum += double(++hits) / double(i + 1);
      const std::size_t total = std::size_t(std::count(db_labels.begin(), db_labels.end(), q_labels[q]));
      const double denom = norm == ApNormalization::RelevantRetrieved ? double(hits)
                           : norm == ApNormalization::MinRelevantK   ? double(std::min<std::size_t>(total, 100))
                                                                      : double(total);
      expected += denom > 0 ? sum / denom : 0;
    }
    expected /= double(queries.size());
    CHECK(s.map == doctest::Approx(expected).epsilon(1e-12));
  }
  // mAP@all over the full ranking equals AllRelevant with k = N.
  const double full = map_full_ranking(index, queries, rel);
  const RankingScores all = evaluate_hamming_ranking(index, queries, rel, idx_t(db.size()), ApNormalization::AllRelevant, {1});
  CHECK(full == doctest::Approx(all.map).epsilon(1e-12));
}

TEST_CASE("precision and recall by Hamming radius against brute force") {
  const int bits = 16;
  const BitCodes db = test::random_codes(2000, bits, 41, 0, 0.2);
  const BitCodes queries = test::random_codes(25, bits, 42, 0, 0.2);
  std::vector<int> db_labels(db.size()), q_labels(queries.size());
  for (std::size_t i = 0; i < db.size(); ++i) db_labels[i] = int(i % 3);
  for (std::size_t i = 0; i < queries.size(); ++i) q_labels[i] = int(i % 3);
  const SingleLabelRelevance rel(q_labels, db_labels);
  HammingIndex index(bits, 2);
  index.add(db);
  const RadiusCurve curve = precision_recall_by_radius(index, queries, rel);
  REQUIRE(curve.precision.size() == std::size_t(bits) + 1);
  for (int r : {0, 1, 2, 5, bits}) {
    double p = 0, rc = 0, empty = 0;
    for (std::size_t q = 0; q < queries.size(); ++q) {
      std::size_t tot = 0, hit = 0, all = 0;
      for (std::size_t i = 0; i < db.size(); ++i) {
        const bool relevant = db_labels[i] == q_labels[q];
        all += relevant;
        if (test::hamming(queries, q, db, i) <= r) {
          ++tot;
          hit += relevant;
        }
      }
      p += tot ? double(hit) / double(tot) : 0;
      rc += double(hit) / double(all);
      empty += tot == 0;
    }
    const double n = double(queries.size());
    CHECK(curve.precision[std::size_t(r)] == doctest::Approx(p / n));
    CHECK(curve.recall[std::size_t(r)] == doctest::Approx(rc / n));
    CHECK(curve.empty_fraction[std::size_t(r)] == doctest::Approx(empty / n));
    CHECK(precision_within_radius(index, queries, rel, r) == doctest::Approx(p / n));
  }
  CHECK(curve.recall.back() == doctest::Approx(1.0));
}

TEST_CASE("multi-label relevance: sharing at least one label") {
  const MultiLabelRelevance rel({{1, 70}, {}}, {{0}, {70}, {1, 2}, {3}});
  CHECK_FALSE(rel.relevant(0, 0));
  CHECK(rel.relevant(0, 1));
  CHECK(rel.relevant(0, 2));
  CHECK_FALSE(rel.relevant(0, 3));
  CHECK(rel.total_relevant(0) == 2);
  CHECK(rel.total_relevant(1) == 0);
  const idx_t ranked[] = {3, 1, 2};
  CHECK(average_precision(ranked, 3, 0, rel, ApNormalization::RelevantRetrieved) ==
        doctest::Approx((1.0 / 2 + 2.0 / 3) / 2));
}

TEST_CASE("the CIFAR-10 protocol checks its sizes and runs on 10,000 x 50,000 codes") {
  const RetrievalProtocol p = cifar10_lin2015_protocol();
  const BitCodes db = test::random_codes(50000, 48, 51, 500);
  const BitCodes queries = db.slice(0, 10000);
  std::vector<int> dl(db.size());
  for (std::size_t i = 0; i < dl.size(); ++i) dl[i] = int(db.code(i)[0] % 10);
  const std::vector<int> ql(dl.begin(), dl.begin() + 10000);
  HammingIndex index(48);
  index.add(db);
  const ProtocolResult r = evaluate_protocol(p, index, queries, SingleLabelRelevance(ql, dl));
  // Labels are a function of the code and every query is in the database: its ~100 copies (the
  // same prototype, distance 0) rank first and share its label; later ranks are other prototypes,
  // relevant one time in ten.
  CHECK(r.scores.precision.front() == doctest::Approx(1.0));
  CHECK(r.scores.precision[std::size_t(std::find(r.scores.cutoffs.begin(), r.scores.cutoffs.end(), 50) -
                                       r.scores.cutoffs.begin())] == doctest::Approx(1.0));
  CHECK(r.scores.map > 0.6);
  CHECK(r.scores.map < 0.95);
  CHECK(r.scores.cutoffs.back() == 1000);
  CHECK_THROWS_WITH_AS(evaluate_protocol(p, index, queries.slice(0, 10), SingleLabelRelevance({0}, {0})),
                       doctest::Contains("the protocol has 10000 queries, got 10"), Error);
}

TEST_CASE("coarse-to-fine: rerank a Hamming pool by Euclidean distance, against brute force") {
  const int bits = 24, dim = 16;
  const BitCodes db = test::random_codes(1500, bits, 61, 30);
  const BitCodes queries = test::random_codes(12, bits, 62, 30);
  std::mt19937 rng(63);
  std::normal_distribution<float> gauss;
  RowMatrixXf dbf(db.size(), dim), qf(queries.size(), dim);
  for (Eigen::Index i = 0; i < dbf.size(); ++i) dbf.data()[i] = gauss(rng);
  for (Eigen::Index i = 0; i < qf.size(); ++i) qf.data()[i] = gauss(rng);
  HammingIndex index(bits, 2);
  index.add(db);
  for (const CandidatePool pool : {CandidatePool::top(200), CandidatePool::within_radius(6)}) {
    const RerankedResult r = coarse_to_fine_search(index, dbf, queries, qf, pool, 10);
    for (std::size_t q = 0; q < queries.size(); ++q) {
      // Brute force: the pool, then a sort by (euclidean, hamming, id).
      auto ranking = test::brute_force_ranking(db, queries, q);
      std::vector<std::tuple<float, int, idx_t>> cand;
      for (std::size_t i = 0; i < ranking.size(); ++i) {
        const bool in = pool.nearest > 0 ? i < std::size_t(pool.nearest) : ranking[i].distance <= pool.radius;
        if (in) cand.emplace_back((dbf.row(ranking[i].id) - qf.row(Eigen::Index(q))).norm(), ranking[i].distance, ranking[i].id);
      }
      std::sort(cand.begin(), cand.end());
      for (std::size_t j = 0; j < 10; ++j) {
        INFO("query " << q << " rank " << j);
        if (j < cand.size()) {
          CHECK(r.labels[q * 10 + j] == std::get<2>(cand[j]));
          CHECK(r.hamming[q * 10 + j] == std::get<1>(cand[j]));
          CHECK(r.euclidean[q * 10 + j] == doctest::Approx(std::get<0>(cand[j])));
        } else {
          CHECK(r.labels[q * 10 + j] == -1);
        }
      }
    }
  }
  RowMatrixXf bad = qf;
  bad(3, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(coarse_to_fine_search(index, dbf, queries, bad, CandidatePool::top(5), 3),
                       doctest::Contains("row 3 contains NaN"), Error);
  CHECK_THROWS_WITH_AS(coarse_to_fine_search(index, dbf.topRows(10), queries, qf, CandidatePool::top(5), 3),
                       doctest::Contains("1500 codes but 10 database feature rows"), Error);
}

TEST_CASE("Euclidean k-NN equals brute force") {
  std::mt19937 rng(71);
  std::normal_distribution<float> gauss;
  RowMatrixXf db(5000, 20), q(30, 20);
  for (Eigen::Index i = 0; i < db.size(); ++i) db.data()[i] = gauss(rng);
  for (Eigen::Index i = 0; i < q.size(); ++i) q.data()[i] = gauss(rng);
  ThreadPool pool(2);
  const FloatKnnResult r = euclidean_knn(db, q, 50, pool);
  for (Eigen::Index i = 0; i < q.rows(); ++i) {
    std::vector<std::pair<float, idx_t>> all;
    for (Eigen::Index j = 0; j < db.rows(); ++j) all.emplace_back((db.row(j) - q.row(i)).norm(), j);
    std::sort(all.begin(), all.end());
    for (std::size_t j = 0; j < 50; ++j) {
      CHECK(r.labels[std::size_t(i) * 50 + j] == all[j].second);
      CHECK(r.distances[std::size_t(i) * 50 + j] == doctest::Approx(all[j].first).epsilon(1e-4));
    }
  }
}
