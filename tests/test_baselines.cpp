// LSH and ITQ: properties that can fail, and the accuracy they reach on real Fashion-MNIST.
#include <doctest/doctest.h>

#include <filesystem>

#include <deephash/data/idx.hpp>
#include <deephash/eval/baselines/itq.hpp>
#include <deephash/eval/baselines/lsh.hpp>
#include <deephash/eval/baselines/pixel_features.hpp>
#include <deephash/eval/hamming_ranking.hpp>
#include <deephash/search/hamming_index.hpp>

#include "support.hpp"

using namespace deephash;

namespace {
// Gaussian clusters in `dim` dimensions with labels = cluster.
void clusters(std::size_t n, int dim, int classes, std::uint64_t seed, RowMatrixXf& x, std::vector<int>& labels) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss;
  std::mt19937_64 centre_rng(99);
  RowMatrixXf centres(classes, dim);
  for (Eigen::Index i = 0; i < centres.size(); ++i) centres.data()[i] = 3 * gauss(centre_rng);
  x.resize(Eigen::Index(n), dim);
  labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    labels[i] = int(i % std::size_t(classes));
    for (int j = 0; j < dim; ++j) x(Eigen::Index(i), j) = centres(labels[i], j) + gauss(rng);
  }
}

template <class Hasher>
double map_of(Hasher& h, const RowMatrixXf& db, const std::vector<int>& dbl, const RowMatrixXf& q,
              const std::vector<int>& ql, ThreadPool& pool) {
  h.fit(db, pool);
  HammingIndex index(h.bits(), 2);
  index.add(h.encode(db));
  return evaluate_hamming_ranking(index, h.encode(q), SingleLabelRelevance(ql, dbl), 100).map;
}
}  // namespace

TEST_CASE("ITQ's iterations lower the quantisation loss, and both hashers beat chance on clusters") {
  RowMatrixXf db, q;
  std::vector<int> dbl, ql;
  clusters(4000, 64, 8, 1, db, dbl);
  clusters(200, 64, 8, 2, q, ql);
  ThreadPool pool(2);
  ItqHasher none(16, 0), few(16, 3), trained(16, 50);
  none.fit(db, pool);
  few.fit(db, pool);
  trained.fit(db, pool);
  CHECK(few.quantization_loss(db) < none.quantization_loss(db));
  CHECK(trained.quantization_loss(db) < few.quantization_loss(db));
  LshHasher lsh(16);
  ItqHasher itq(16);
  const double lsh_map = map_of(lsh, db, dbl, q, ql, pool);
  const double itq_map = map_of(itq, db, dbl, q, ql, pool);
  CHECK(lsh_map > 0.3);  // chance is 1/8
  CHECK(itq_map > lsh_map);
  CHECK(itq.encode(q).bits() == 16);
  CHECK_THROWS_WITH_AS(ItqHasher(100).fit(db, pool), doctest::Contains("need at least as many features"), Error);
  CHECK_THROWS_WITH_AS(itq.encode(q.leftCols(10)), doctest::Contains("expected 64 features, got 10"), Error);
}

DEEPHASH_OPTIONAL_TEST_CASE("Fashion-MNIST: LSH and ITQ at 48 bits land where the literature and our reference put them") {
  const std::string dir = default_fashion_mnist_dir();
  test::skip_unless(std::filesystem::exists(dir), "Fashion-MNIST not found at " + dir +
                                                      " (install dataset-fashion-mnist or set DEEPHASH_FASHION_MNIST_DIR)");
  const ImageDataset train = load_fashion_mnist(dir, "train"), test = load_fashion_mnist(dir, "test");
  const RowMatrixXf db = pixel_features(train), q = pixel_features(test);
  ThreadPool pool;
  LshHasher lsh(48);
  ItqHasher itq(48);
  // A throw-away reference measured on this protocol (10,000 test queries, 60,000 database,
  // mAP@1000): ITQ 0.68, LSH 0.59 at 48 bits.
  const auto map_at_1000 = [&](auto& h) {
    h.fit(db, pool);
    HammingIndex index(48);
    index.add(h.encode(db));
    return evaluate_hamming_ranking(index, h.encode(q), SingleLabelRelevance(test.labels, train.labels), 1000).map;
  };
  const double itq_map = map_at_1000(itq), lsh_map = map_at_1000(lsh);
  MESSAGE("Fashion-MNIST 48 bits mAP@1000: ITQ " << itq_map << ", LSH " << lsh_map);
  CHECK(itq_map == doctest::Approx(0.68).epsilon(0.04));
  CHECK(lsh_map == doctest::Approx(0.58).epsilon(0.08));
}
