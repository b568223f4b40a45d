// Hamming search against brute force, for every code length class, k and thread split, with ties.
#include <doctest/doctest.h>

#include <deephash/search/hamming_index.hpp>

#include "support.hpp"

using namespace deephash;

namespace {

void check_knn(const BitCodes& db, const BitCodes& queries, idx_t k, unsigned threads) {
  HammingIndex index(db.bits(), threads);
  index.add(db);
  const KnnResult r = index.search(queries, k);
  for (std::size_t q = 0; q < queries.size(); ++q) {
    const auto truth = test::brute_force_ranking(db, queries, q);
    for (idx_t rank = 0; rank < k; ++rank) {
      const bool present = std::size_t(rank) < truth.size();
      INFO("bits=" << db.bits() << " n=" << db.size() << " k=" << k << " threads=" << threads
                   << " query=" << q << " rank=" << rank);
      REQUIRE(r.label(idx_t(q), rank) == (present ? truth[std::size_t(rank)].id : kMissingLabel));
      REQUIRE(r.distance(idx_t(q), rank) ==
              (present ? truth[std::size_t(rank)].distance : kMissingDistance));
    }
  }
}

void check_range(const BitCodes& db, const BitCodes& queries, int radius, unsigned threads) {
  HammingIndex index(db.bits(), threads);
  index.add(db);
  const RangeSearchResult r = index.range_search(queries, radius);
  REQUIRE(r.lims.size() == queries.size() + 1);
  for (std::size_t q = 0; q < queries.size(); ++q) {
    auto truth = test::brute_force_ranking(db, queries, q);
    truth.erase(std::remove_if(truth.begin(), truth.end(),
                               [&](const Neighbor& n) { return n.distance > radius; }),
                truth.end());
    INFO("bits=" << db.bits() << " radius=" << radius << " threads=" << threads << " query=" << q);
    REQUIRE(r.lims[q + 1] - r.lims[q] == truth.size());
    for (std::size_t i = 0; i < truth.size(); ++i) {
      REQUIRE(r.labels[r.lims[q] + i] == truth[i].id);
      REQUIRE(r.distances[r.lims[q] + i] == truth[i].distance);
    }
  }
}

}  // namespace

TEST_CASE("k-NN equals brute force for every code length, k and thread split") {
  INFO("backend: " << HammingIndex::backend_name());
  const int lengths[] = {1, 7, 12, 16, 32, 48, 63, 64, 65, 100, 128, 192, 256, 300, 448, 512, 520, 1000, 4096};
  std::uint64_t seed = 1;
  for (int bits : lengths) {
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(37), std::size_t(700)}) {
      const BitCodes db = test::random_codes(n, bits, seed++, n > 100 ? 40 : 0);
      const BitCodes queries = test::random_codes(5, bits, seed++);
      for (idx_t k : {idx_t(1), idx_t(3), idx_t(10), idx_t(100), idx_t(n), idx_t(n + 7)}) {
        if (k == 0) continue;
        for (unsigned threads : {1u, 3u}) check_knn(db, queries, k, threads);
      }
    }
  }
}

TEST_CASE("k-NN with the database split across threads (one query, large database)") {
  for (int bits : {12, 64, 130, 1000}) {
    // Low-density bits make most distances small and tie heavily.
    const BitCodes db = test::random_codes(5000, bits, 100 + std::uint64_t(bits), 0, 0.05);
    const BitCodes one = test::random_codes(1, bits, 200 + std::uint64_t(bits), 0, 0.05);
    for (idx_t k : {idx_t(1), idx_t(10), idx_t(1000), idx_t(5000), idx_t(6000)})
      for (unsigned threads : {2u, 4u}) check_knn(db, one, k, threads);
  }
}

TEST_CASE("many queries with heavy ties") {
  const BitCodes db = test::random_codes(3000, 48, 7, 25);
  const BitCodes queries = test::random_codes(64, 48, 8, 25);
  for (idx_t k : {idx_t(1), idx_t(50), idx_t(1000)}) check_knn(db, queries, k, 2);
}

TEST_CASE("radius search equals brute force") {
  std::uint64_t seed = 500;
  for (int bits : {5, 12, 48, 64, 65, 256, 1000}) {
    const BitCodes db = test::random_codes(2500, bits, seed++, 0, 0.1);
    const BitCodes queries = test::random_codes(4, bits, seed++, 0, 0.1);
    for (int radius : {0, 1, 3, bits / 4, bits})
      for (unsigned threads : {1u, 2u}) check_range(db, queries, radius, threads);
    // A single query splits the database.
    check_range(db, queries.slice(0, 1), bits / 4, 2);
  }
}

TEST_CASE("empty database, k = 0 and k larger than the database") {
  HammingIndex index(48);
  const BitCodes q = test::random_codes(3, 48, 1);
  KnnResult r = index.search(q, 4);
  for (std::size_t i = 0; i < r.labels.size(); ++i) {
    CHECK(r.labels[i] == kMissingLabel);
    CHECK(r.distances[i] == kMissingDistance);
  }
  CHECK(index.search(q, 0).labels.empty());
  CHECK(index.range_search(q, 48).lims == std::vector<std::size_t>{0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(index.search(q, -1), doctest::Contains("k must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(index.range_search(q, -1), doctest::Contains("radius must be >= 0"), Error);
}

TEST_CASE("mismatched code lengths are refused") {
  HammingIndex index(48);
  CHECK_THROWS_WITH_AS(index.add(test::random_codes(2, 32, 1)),
                       doctest::Contains("expected 48-bit codes, got 32-bit codes"), Error);
  CHECK_THROWS_WITH_AS(index.search(test::random_codes(2, 64, 1), 1),
                       doctest::Contains("code lengths differ"), Error);
  CHECK_THROWS_AS(HammingIndex(0), Error);
  CHECK_THROWS_AS(HammingIndex(kMaxCodeBits + 1), Error);
}

TEST_CASE("bits past the code length are ignored in database and queries") {
  const int bits = 12;
  HammingIndex index(bits, 1);
  std::uint64_t dirty[2] = {0xFFFFFFFFFFFFF000ull | 0x5, 0x3};
  index.add(2, dirty);
  std::uint64_t query = 0xABC0000000000000ull | 0x5;
  std::int32_t d[2];
  idx_t l[2];
  index.search(1, &query, 2, d, l);
  CHECK(l[0] == 0);
  CHECK(d[0] == 0);
  CHECK(l[1] == 1);
  CHECK(d[1] == 2);
  std::uint64_t back = 0;
  index.reconstruct(0, &back);
  CHECK(back == 0x5);
}

TEST_CASE("results are the same from several threads searching one index at once") {
  const BitCodes db = test::random_codes(20000, 64, 11, 200);
  const BitCodes queries = test::random_codes(50, 64, 12, 200);
  HammingIndex index(64, 2);
  index.add(db);
  const KnnResult expected = index.search(queries, 20);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep) {
        const KnnResult got = index.search(queries, 20);
        if (got.labels != expected.labels || got.distances != expected.distances) ++mismatches;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(mismatches == 0);
}

TEST_CASE("large k: the sampled distance cap, and the retry when the sample misleads") {
  // Clustered codes with a k large enough for the index to estimate a cap from a sample.
  const BitCodes db = test::random_codes(50000, 64, 21, 300);
  const BitCodes queries = test::random_codes(8, 64, 22, 300);
  check_knn(db, queries, 300, 2);
  check_knn(db, queries, 2000, 1);

  // A database whose evenly spaced sample blocks hold copies of the query while the rest lies
  // far away: the estimated cap admits too few codes, and the index must notice and search again.
  const std::size_t n = 20000, blocks = n / kBlockCodes, sampled = 1024 / kBlockCodes;
  BitCodes adversarial = test::random_codes(n, 64, 23);
  for (std::size_t i = 0; i < sampled; ++i)
    for (std::size_t c = 0; c < kBlockCodes; ++c) adversarial.code((i * blocks / sampled) * kBlockCodes + c)[0] = 0;
  const BitCodes zero_query(1, 64);
  check_knn(adversarial, zero_query, 2000, 1);
  check_knn(adversarial, zero_query, 2000, 2);
}
