// The BinaryIndex contract, for the flat index and multi-index hashing alike: k-NN and radius
// results equal brute force over (id, code) pairs, ordered by (distance, id), for every code
// length class, with ties, with ids in any order, after removals, and after a save and load.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>

#include <deephash/io/container/index_file.hpp>
#include <deephash/search/hamming_index.hpp>
#include <deephash/search/multi_index_hashing.hpp>

#include "support.hpp"

using namespace deephash;

namespace {

// What an index should hold: id -> code.
using Contents = std::map<idx_t, std::vector<std::uint64_t>>;

int distance(const std::vector<std::uint64_t>& a, const std::uint64_t* b) {
  int d = 0;
  for (std::size_t w = 0; w < a.size(); ++w) d += __builtin_popcountll(a[w] ^ b[w]);
  return d;
}

// Every stored code ordered by (distance, id): the map iterates in id order and the sort is stable.
std::vector<Neighbor> brute_force(const Contents& contents, const std::uint64_t* query) {
  std::vector<Neighbor> all;
  for (const auto& [id, code] : contents) all.push_back({distance(code, query), id});
  std::stable_sort(all.begin(), all.end(), [](const Neighbor& a, const Neighbor& b) { return a.distance < b.distance; });
  return all;
}

void check_against_brute_force(const BinaryIndex& index, const Contents& contents, const BitCodes& queries,
                               const std::string& what) {
  REQUIRE(index.size() == idx_t(contents.size()));
  const idx_t n = index.size();
  std::vector<std::vector<Neighbor>> truth;
  for (std::size_t q = 0; q < queries.size(); ++q) truth.push_back(brute_force(contents, queries.code(q)));
  for (idx_t k : {idx_t(1), idx_t(10), n, n + 3}) {
    if (k <= 0) continue;
    const KnnResult r = index.search(queries, k);
    for (std::size_t q = 0; q < queries.size(); ++q) {
      for (idx_t rank = 0; rank < k; ++rank) {
        const bool present = std::size_t(rank) < truth[q].size();
        INFO(what << " bits=" << index.bits() << " n=" << n << " k=" << k << " query=" << q << " rank=" << rank);
        REQUIRE(r.label(idx_t(q), rank) == (present ? truth[q][std::size_t(rank)].id : kMissingLabel));
        REQUIRE(r.distance(idx_t(q), rank) == (present ? truth[q][std::size_t(rank)].distance : kMissingDistance));
      }
    }
  }
  for (int radius : {0, 3, index.bits() / 8, index.bits()}) {
    const RangeSearchResult r = index.range_search(queries, radius);
    REQUIRE(r.lims.size() == queries.size() + 1);
    for (std::size_t q = 0; q < queries.size(); ++q) {
      std::size_t within = 0;
      while (within < truth[q].size() && truth[q][within].distance <= radius) ++within;
      INFO(what << " bits=" << index.bits() << " n=" << n << " radius=" << radius << " query=" << q);
      REQUIRE(r.lims[q + 1] - r.lims[q] == within);
      for (std::size_t i = 0; i < within; ++i) {
        REQUIRE(r.labels[r.lims[q] + i] == truth[q][i].id);
        REQUIRE(r.distances[r.lims[q] + i] == truth[q][i].distance);
      }
    }
  }
}

// Codes around a few centres with a few bits flipped: clustered, with many equal distances and
// repeated codes, like the codes of a trained model.
BitCodes clustered_codes(std::size_t n, int bits, std::uint64_t seed, std::size_t centres = 5, double flip = 0.04) {
  const BitCodes c = test::random_codes(centres, bits, seed);
  std::mt19937_64 rng(seed + 1);
  std::bernoulli_distribution flipped(flip);
  BitCodes out(n, bits);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t from = rng() % centres;
    for (int j = 0; j < bits; ++j) out.set_bit(i, j, c.bit(from, j) != flipped(rng));
  }
  return out;
}

// The kinds of index under test, each as a factory: the flat index, and multi-index hashing with
// its tables built, automatic or fixed in number, with the usual scan fallback or made to probe up
// to 64 times what a scan costs (which probes wherever probing can finish at all).
struct Kind {
  std::string name;
  std::function<std::unique_ptr<BinaryIndex>(int bits)> make;
  std::function<void(BinaryIndex&)> after_add;
};

std::vector<Kind> kinds(int bits) {
  std::vector<Kind> k;
  const auto rebuild = [](BinaryIndex& i) { dynamic_cast<MultiIndexHashing&>(i).rebuild(); };
  auto mih = [&](const std::string& name, int tables, double scan_codes_per_probe, double scan_codes_per_shell_code = 32) {
    k.push_back({name,
                 [=](int b) {
                   auto m = std::make_unique<MultiIndexHashing>(b, tables, 2);
                   m->set_scan_codes_per_probe(scan_codes_per_probe);
                   m->set_scan_codes_per_shell_code(scan_codes_per_shell_code);
                   return m;
                 },
                 rebuild});
  };
  k.push_back({"flat", [](int b) { return std::make_unique<HammingIndex>(b, 2); }, [](BinaryIndex&) {}});
  mih("mih", 0, 4096);
  mih("mih-probing", 0, 1.0 / 64);
  mih("mih-pivots", 0, 1e12, 0);  // the probes give up at once; the pivot search always finishes
  for (int tables : {words_for_bits(bits), std::min(bits, words_for_bits(bits) + 2), std::clamp(7, words_for_bits(bits), bits)})
    mih("mih-" + std::to_string(tables), tables, 1.0 / 64);
  return k;
}

Contents contents_of(const BitCodes& codes, const std::vector<idx_t>& ids) {
  Contents c;
  for (std::size_t i = 0; i < codes.size(); ++i) c[ids[i]] = std::vector<std::uint64_t>(codes.code(i), codes.code(i) + codes.words_per_code());
  return c;
}

std::vector<idx_t> iota_ids(std::size_t n, idx_t first = 0) {
  std::vector<idx_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = first + idx_t(i);
  return ids;
}

}  // namespace

TEST_CASE("every index equals brute force for every code length, with ties") {
  const int lengths[] = {1, 5, 12, 16, 32, 48, 63, 64, 65, 100, 128, 200, 256, 1000, 4096};
  std::uint64_t seed = 11;
  for (int bits : lengths) {
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(300), std::size_t(1500)}) {
      const BitCodes uniform = test::random_codes(n, bits, seed++, n > 100 ? 60 : 0);
      const BitCodes clustered = clustered_codes(n, bits, seed++);
      for (const BitCodes* db : {&uniform, &clustered}) {
        BitCodes queries = test::random_codes(2, bits, seed++);
        if (db->size() > 3) queries.append(db->select({0, idx_t(db->size() / 2)}));
        queries.append(clustered_codes(2, bits, seed - 2));  // near the clustered centres
        for (const Kind& kind : kinds(bits)) {
          auto index = kind.make(bits);
          index->add(*db);
          kind.after_add(*index);
          check_against_brute_force(*index, contents_of(*db, iota_ids(db->size())), queries,
                                    kind.name + (db == &uniform ? " uniform" : " clustered"));
        }
      }
    }
  }
}

TEST_CASE("multi-index hashing scans the codes added since its tables were built") {
  for (int bits : {32, 64, 130}) {
    const BitCodes db = clustered_codes(6000, bits, 7 + std::uint64_t(bits));
    MultiIndexHashing index(bits, 0, 2);
    index.set_scan_codes_per_probe(0);
    index.add(db.slice(0, 5000));
    index.rebuild();
    index.add(db.slice(5000, 5100));  // too few to rebuild for: scanned
    index.add(db.slice(5100, 6000));
    const BitCodes queries = clustered_codes(6, bits, 7 + std::uint64_t(bits));
    check_against_brute_force(index, contents_of(db, iota_ids(db.size())), queries, "mih with a tail");
  }
}

TEST_CASE("ids: any order, ties by ascending id, removal without renumbering, in every index") {
  const int bits = 40;
  std::mt19937_64 rng(3);
  for (const Kind& kind : kinds(bits)) {
    auto index = kind.make(bits);
    Contents contents;
    auto add = [&](const BitCodes& codes, const std::vector<idx_t>& ids) {
      index->add_with_ids(codes, ids);
      kind.after_add(*index);
      const Contents more = contents_of(codes, ids);
      contents.insert(more.begin(), more.end());
    };
    auto random_ids = [&](std::size_t n, idx_t lo, idx_t hi) {
      std::vector<idx_t> ids;
      std::map<idx_t, bool> used;
      while (ids.size() < n) {
        const idx_t id = lo + idx_t(rng() % std::uint64_t(hi - lo));
        if (!contents.count(id) && !used[id]) {
          used[id] = true;
          ids.push_back(id);
        }
      }
      return ids;
    };
    // Few distinct codes, so that most distances tie and the id order decides.
    add(test::random_codes(500, bits, 1, 12), random_ids(500, 1000, 1'000'000'000'000LL));
    add(test::random_codes(300, bits, 2, 12), random_ids(300, 0, 2'000'000'000'000LL));  // in between: a merge
    const BitCodes queries = test::random_codes(6, bits, 9, 12);
    check_against_brute_force(*index, contents, queries, kind.name + " shuffled ids");

    // Remove a third, some twice, plus ids that are not there.
    std::vector<idx_t> gone;
    for (const auto& [id, code] : contents)
      if (rng() % 3 == 0) gone.push_back(id);
    std::vector<idx_t> request = gone;
    request.insert(request.end(), gone.begin(), gone.begin() + 5);
    request.push_back(-5);
    request.push_back(3'000'000'000'000LL);
    CHECK(index->remove_ids(request) == idx_t(gone.size()));
    kind.after_add(*index);
    for (idx_t id : gone) contents.erase(id);
    check_against_brute_force(*index, contents, queries, kind.name + " after removal");
    CHECK(index->ids() == [&] {
      std::vector<idx_t> ids;
      for (const auto& [id, code] : contents) ids.push_back(id);
      return ids;
    }());
    for (const auto& [id, code] : contents) {
      std::vector<std::uint64_t> out(1);
      index->reconstruct(id, out.data());
      REQUIRE(out == code);
      REQUIRE(index->contains(id));
    }
    CHECK_FALSE(index->contains(gone[0]));
    CHECK_THROWS_WITH_AS(index->reconstruct(gone[0], nullptr), doctest::Contains("is not in the index"), Error);

    // add() without ids goes on after the largest id.
    const idx_t next = index->next_id();
    CHECK(next == contents.rbegin()->first + 1);
    const BitCodes more = test::random_codes(50, bits, 4, 12);
    index->add(more);
    kind.after_add(*index);
    const Contents appended = contents_of(more, iota_ids(50, next));
    contents.insert(appended.begin(), appended.end());
    check_against_brute_force(*index, contents, queries, kind.name + " after appending");
  }
}

TEST_CASE("bad ids are refused by name and leave the index as it was") {
  for (const Kind& kind : kinds(16)) {
    auto index = kind.make(16);
    const BitCodes codes = test::random_codes(3, 16, 5);
    index->add_with_ids(codes, {10, 20, 30});
    CHECK_THROWS_WITH_AS(index->add_with_ids(codes, {1, 2, 1}), doctest::Contains("id 1 is given twice"), Error);
    CHECK_THROWS_WITH_AS(index->add_with_ids(codes, {1, 2, 20}), doctest::Contains("id 20 is already in the index"), Error);
    CHECK_THROWS_WITH_AS(index->add_with_ids(codes, {5, -1, 7}), doctest::Contains("id -1 is negative"), Error);
    CHECK_THROWS_WITH_AS(index->add_with_ids(codes, {1, 2}), doctest::Contains("3 codes but 2 ids"), Error);
    CHECK(index->ids() == std::vector<idx_t>{10, 20, 30});
    CHECK(index->remove_ids({99}) == 0);
  }
  CHECK_THROWS_WITH_AS(MultiIndexHashing(130, 2), doctest::Contains("between 3"), Error);
  CHECK_THROWS_WITH_AS(MultiIndexHashing(16, 17), doctest::Contains("and 16"), Error);
}

TEST_CASE("the number of tables follows Norouzi et al.: substrings of about log2(n) bits, at most 28") {
  CHECK(default_mih_tables(64, 1 << 16) == 4);
  CHECK(default_mih_tables(64, 1 << 20) == 3);      // 64 / 20 = 3.2
  CHECK(default_mih_tables(64, 100'000'000) == 3);  // 64 / 26.6 = 2.4 would give 32-bit keys
  CHECK(default_mih_tables(128, 1'000'000) == 6);   // 128 / 19.9 = 6.4
  CHECK(default_mih_tables(4096, 1'000) == 411);  // 4096 / 9.97
  CHECK(default_mih_tables(12, 10) == 4);  // 12 / 3.3 = 3.6
  CHECK(default_mih_tables(1, 1) == 1);
}

TEST_CASE("index files keep kind, ids and tables") {
  test::TempDir dir;
  const int bits = 70;
  const BitCodes codes = clustered_codes(3000, bits, 21);
  std::vector<idx_t> ids(codes.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = idx_t(i * 7 + (i % 3));
  const BitCodes queries = clustered_codes(5, bits, 21);
  for (int with_ids = 0; with_ids < 2; ++with_ids) {
    HammingIndex flat(bits, 2);
    MultiIndexHashing mih(bits, 5, 2);
    for (BinaryIndex* index : {static_cast<BinaryIndex*>(&flat), static_cast<BinaryIndex*>(&mih)}) {
      if (with_ids) index->add_with_ids(codes, ids);
      else index->add(codes);
      const std::string path = dir.file(index->kind() + std::to_string(with_ids) + ".dhx");
      index->save(path);
      const auto loaded = load_index(path, 2);
      // The same bytes in memory (pickling from Python) as on disk.
      const std::vector<std::uint8_t> bytes = dynamic_cast<const StoredCodesIndex&>(*index).to_bytes();
      CHECK(bytes == read_file_bytes(path));
      CHECK(parse_index(bytes, "bytes", 2)->search(queries, 20).labels == flat.search(queries, 20).labels);
      CHECK(loaded->kind() == index->kind());
      CHECK(loaded->ids() == index->ids());
      CHECK(loaded->codes() == index->codes());
      CHECK(loaded->search(queries, 20).labels == flat.search(queries, 20).labels);
      CHECK(loaded->range_search(queries, 9).labels == flat.range_search(queries, 9).labels);
      if (index == &mih) {
        CHECK(dynamic_cast<const MultiIndexHashing&>(*loaded).requested_tables() == 5);
        CHECK(dynamic_cast<const MultiIndexHashing&>(*loaded).tables() == 5);
      }
    }
  }
}

TEST_CASE("index files: version 1 still loads; ids out of order and bad table counts are refused by name") {
  test::TempDir dir;
  const BitCodes codes = test::random_codes(40, 20, 8);
  auto write = [&](const std::string& name, const char (&kind)[5], std::uint32_t version, const ByteWriter& payload) {
    const std::string path = dir.file(name);
    save_container(path, kind, version, payload);
    return path;
  };
  ByteWriter v1;
  v1.write<std::uint32_t>(20);
  v1.write<std::uint32_t>(0);
  v1.write<std::uint64_t>(40);
  v1.append(codes.data(), 40 * 8);
  const auto old = load_index(write("v1.dhx", kFlatIndexFileKind, 1, v1));
  CHECK(old->codes() == codes);
  CHECK(old->ids() == iota_ids(40));

  auto with_ids = [&](std::uint32_t tables, idx_t swapped) {
    ByteWriter p;
    p.write<std::uint32_t>(20);
    p.write<std::uint32_t>(tables);
    p.write<std::uint64_t>(40);
    p.write<std::uint64_t>(1);
    p.append(codes.data(), 40 * 8);
    for (idx_t i = 0; i < 40; ++i) p.write<std::int64_t>(i == swapped ? 0 : i * 10);
    return p;
  };
  const std::string bad_order = write("order.dhx", kFlatIndexFileKind, 2, with_ids(0, 7));
  CHECK_THROWS_WITH_AS(load_index(bad_order), doctest::Contains("order.dhx: id 0 at position 7 does not follow 60"), Error);
  const std::string bad_tables = write("tables.dhx", kMihIndexFileKind, 1, with_ids(21, -1));
  CHECK_THROWS_WITH_AS(load_index(bad_tables), doctest::Contains("tables.dhx: declares 21 tables for 20-bit codes"), Error);
  const std::string good = write("good.dhx", kMihIndexFileKind, 1, with_ids(4, -1));
  CHECK(load_index(good)->kind() == "mih");
}
