// FAISS's binary index files (io/faiss/binary_index_file.hpp): the bytes of a hand-worked case,
// round trips of every kind and length, refusals of damaged files, and — with Debian's
// python3-faiss — FAISS itself reading our files with the same search results, and we reading
// the files FAISS writes.

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "deephash/io/container/index_file.hpp"
#include "deephash/io/faiss/binary_index_file.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/popcount.hpp"
#include "doctest/doctest.h"
#include "support.hpp"

using namespace deephash;

namespace {

std::vector<std::uint8_t> bytes_of(std::initializer_list<int> values) {
  std::vector<std::uint8_t> b;
  for (int v : values) b.push_back(std::uint8_t(v));
  return b;
}

void append(std::vector<std::uint8_t>& to, const std::vector<std::uint8_t>& more) { to.insert(to.end(), more.begin(), more.end()); }

int distance(const BitCodes& a, std::size_t i, const BitCodes& b, std::size_t j) {
  int d = 0;
  for (int w = 0; w < a.words_per_code(); ++w) d += simd::popcount64(a.code(i)[w] ^ b.code(j)[w]);
  return d;
}

std::vector<std::int64_t> scattered_ids(std::size_t n) {
  std::vector<std::int64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = std::int64_t(i * 7919 % 100003) * 1000003 - 40000000000LL;
  return ids;
}

}  // namespace

TEST_CASE("FAISS files: a 16-bit flat index and its id map, byte by byte as FAISS lays them out") {
  BitCodes codes(2, 16);
  codes.code(0)[0] = 0x0201;
  codes.code(1)[0] = 0xABCD;
  // "IBxF", d = 16, code_size = 2, ntotal = 2, is_trained = 1, metric = 1 (L2, IndexBinary's
  // default), then the code bytes as a vector: u64 4, 01 02 CD AB.
  std::vector<std::uint8_t> flat = bytes_of({'I', 'B', 'x', 'F', 16, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0});
  append(flat, bytes_of({4, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0xCD, 0xAB}));
  CHECK(faiss_binary_index_bytes({FaissBinaryKind::Flat, codes, {}}, "t") == flat);

  // "IBM2", the same header but for code_size 0 (as FAISS leaves it in an id map), the flat
  // index, then the ids as a vector: u64 2, i64 -1, i64 2^40.
  std::vector<std::uint8_t> map = bytes_of({'I', 'B', 'M', '2', 16, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0});
  append(map, flat);
  append(map, bytes_of({2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0}));
  const FaissBinaryIndex mapped{FaissBinaryKind::IDMap2, codes, {-1, std::int64_t(1) << 40}};
  CHECK(faiss_binary_index_bytes(mapped, "t") == map);
  map[3] = 'p';  // IndexBinaryIDMap differs only by its fourcc
  CHECK(faiss_binary_index_bytes({FaissBinaryKind::IDMap, codes, mapped.ids}, "t") == map);

  const FaissBinaryIndex back = parse_faiss_binary_index(map, "t");
  CHECK(back.kind == FaissBinaryKind::IDMap);
  CHECK(back.codes == codes);
  CHECK(back.ids == mapped.ids);
}

TEST_CASE("FAISS files: every kind and length round-trips; lengths that are not whole bytes are padded with zeros") {
  test::TempDir dir;
  for (int bits : {1, 8, 12, 64, 100, 256, 4096})
    for (FaissBinaryKind kind : {FaissBinaryKind::Flat, FaissBinaryKind::IDMap, FaissBinaryKind::IDMap2}) {
      CAPTURE(bits);
      CAPTURE(int(kind));
      FaissBinaryIndex index{kind, test::random_codes(37, bits, std::uint64_t(bits)), {}};
      if (kind != FaissBinaryKind::Flat) index.ids = scattered_ids(index.codes.size());
      const std::string path = dir.file("index.faiss");
      write_faiss_binary_index(index, path);
      const FaissBinaryIndex as_is = read_faiss_binary_index(path);
      const int padded = 8 * faiss_code_size(bits);
      REQUIRE(as_is.codes.bits() == padded);
      CHECK(as_is.kind == kind);
      CHECK(as_is.ids == index.ids);
      const FaissBinaryIndex told = read_faiss_binary_index(path, bits);
      CHECK(told.codes == index.codes);
      // Padding leaves every distance as it was.
      for (std::size_t i = 0; i < index.codes.size(); ++i)
        CHECK(distance(as_is.codes, i, as_is.codes, 0) == distance(index.codes, i, index.codes, 0));
    }
  // An empty index is a valid FAISS file too.
  write_faiss_binary_index({FaissBinaryKind::IDMap2, BitCodes(0, 32), {}}, dir.file("empty.faiss"));
  CHECK(read_faiss_binary_index(dir.file("empty.faiss")).codes.size() == 0);
}

TEST_CASE("FAISS files: damaged, truncated and mismatched files and indexes are refused by name") {
  const BitCodes codes = test::random_codes(5, 24, 3);
  const std::vector<std::uint8_t> good = faiss_binary_index_bytes({FaissBinaryKind::IDMap, codes, scattered_ids(5)}, "t");
  for (std::size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    CHECK_THROWS_AS(parse_faiss_binary_index(std::vector<std::uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(n)), "cut.faiss"), Error);
  }
  auto refused = [](std::vector<std::uint8_t> bytes, const std::string& why) {
    CAPTURE(why);
    try {
      parse_faiss_binary_index(bytes, "bad.faiss");
      FAIL("accepted");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(message.find("bad.faiss") != std::string::npos);
      CHECK(message.find(why) != std::string::npos);
    }
  };
  std::vector<std::uint8_t> extra = good;
  extra.push_back(0);
  refused(extra, "1 bytes after the index");
  std::vector<std::uint8_t> ivf = good;
  ivf[25] = 'I', ivf[26] = 'B', ivf[27] = 'w', ivf[28] = 'F';  // the inner index: an IndexBinaryIVF
  refused(ivf, "'IBwF'");
  std::vector<std::uint8_t> odd_d = good;
  odd_d[4] = 23;  // d must be 8 * code_size
  refused(odd_d, "d == 8 * code_size");
  std::vector<std::uint8_t> huge = good;
  huge[25 + 4 + 8 + 7] = 0x7f;  // the inner index claims ~2^62 codes
  refused(huge, "declares");
  CHECK_THROWS_AS(read_faiss_binary_index("/nonexistent/x.faiss"), Error);
  // A code size whose bit count overflows an int (found by fuzzing): refused, not undefined.
  {
    std::vector<std::uint8_t> overflowing = {'I', 'B', 'M', '2'};
    overflowing.insert(overflowing.end(), 120, 0x3d);  // d = code size = 0x3d3d3d3d, ntotal and the rest alike
    CHECK_THROWS_WITH_AS(parse_faiss_binary_index(overflowing, "overflowing.faiss"), doctest::Contains("FAISS needs d == 8 * code_size"), Error);
  }
  CHECK_THROWS_AS(parse_faiss_binary_index(good, "t", 16), Error);  // 24-bit codes are not 16-bit ones

  CHECK_THROWS_AS(faiss_binary_index_bytes({FaissBinaryKind::IDMap, codes, {1, 2}}, "t"), Error);
  CHECK_THROWS_AS(faiss_binary_index_bytes({FaissBinaryKind::Flat, codes, scattered_ids(5)}, "t"), Error);
  CHECK_THROWS_AS(faiss_binary_index_bytes({FaissBinaryKind::IDMap2, codes, {1, 2, 3, 2, 5}}, "t"), Error);
  CHECK_NOTHROW(faiss_binary_index_bytes({FaissBinaryKind::IDMap, codes, {1, 2, 3, 2, 5}}, "t"));
}

TEST_CASE("FAISS files: load_index, map_index and parse_index read them as a flat index with the same results") {
  test::TempDir dir;
  for (int bits : {12, 64, 100})
    for (FaissBinaryKind kind : {FaissBinaryKind::Flat, FaissBinaryKind::IDMap, FaissBinaryKind::IDMap2}) {
      CAPTURE(bits);
      CAPTURE(int(kind));
      const BitCodes codes = test::random_codes(300, bits, std::uint64_t(bits), 40);  // 40 distinct: ties
      const BitCodes queries = test::random_codes(25, bits, std::uint64_t(bits) + 1, 40);
      FaissBinaryIndex faiss{kind, codes, {}};
      HammingIndex expected(bits, 2);
      if (kind == FaissBinaryKind::Flat) {
        expected.add(codes);
      } else {
        for (std::int64_t id : scattered_ids(codes.size())) faiss.ids.push_back(id + 40000000000LL);  // >= 0
        expected.add_with_ids(codes, std::vector<idx_t>(faiss.ids.begin(), faiss.ids.end()));
      }
      const std::string path = dir.file("index.faiss");
      write_faiss_binary_index(faiss, path);
      const KnnResult want = expected.search(queries, 15);
      const RangeSearchResult want_range = expected.range_search(queries, bits / 4);
      std::vector<std::unique_ptr<BinaryIndex>> read;
      read.push_back(load_index(path, 2, bits));
      read.push_back(map_index(path, 2, Verification::on_first_use, bits));
      read.push_back(parse_index(read_file_bytes(path), path, 2, bits));
      for (const auto& index : read) {
        CHECK(index->kind() == "flat");
        REQUIRE(index->bits() == bits);
        CHECK(index->ids() == expected.ids());
        const KnnResult got = index->search(queries, 15);
        CHECK(got.labels == want.labels);
        CHECK(got.distances == want.distances);
        const RangeSearchResult range = index->range_search(queries, bits / 4);
        CHECK(range.lims == want_range.lims);
        CHECK(range.labels == want_range.labels);
      }
      // Without the true length, the codes are FAISS's whole bytes: the distances are the same.
      const auto padded = load_index(path, 1);
      CHECK(padded->bits() == 8 * faiss_code_size(bits));
      CHECK(padded->search(from_faiss_bytes(to_faiss_bytes(queries).data(), queries.size(), padded->bits()), 15).distances ==
            want.distances);
    }

  // FAISS's IndexBinaryIDMap lets ids repeat or be negative; a deephash index cannot hold them.
  const BitCodes codes = test::random_codes(4, 32, 9);
  for (const std::vector<std::int64_t>& ids : {std::vector<std::int64_t>{1, 2, 2, 3}, std::vector<std::int64_t>{1, -2, 3, 4}}) {
    write_faiss_binary_index({FaissBinaryKind::IDMap, codes, ids}, dir.file("odd-ids.faiss"));
    const std::string message = test::error_message([&] { load_index(dir.file("odd-ids.faiss")); });
    CHECK(message.find(dir.file("odd-ids.faiss") + ": its ids cannot index a deephash index") != std::string::npos);
  }
  // A file that is neither is refused as before, by name.
  write_file_atomically(dir.file("neither.faiss"), std::vector<std::uint8_t>{'I', 'B', 'w', 'F', 0, 0, 0, 0});
  CHECK(test::error_message([&] { load_index(dir.file("neither.faiss")); }).find(dir.file("neither.faiss")) != std::string::npos);
}

DEEPHASH_OPTIONAL_TEST_CASE("FAISS: python3-faiss reads our files with the same search results and we read what it writes") {
  // Debian's python3-faiss belongs to the system interpreter; a pyenv or venv python3 earlier on
  // PATH would not see it.
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  test::skip_unless(std::system((python + " -c 'import faiss' > /dev/null 2>&1").c_str()) == 0,
                    "python3-faiss (Debian's python3-faiss)");
  for (int bits : {64, 100}) {  // FAISS's specialised 8-byte path, and a length padded to 104 bits
    CAPTURE(bits);
    test::TempDir dir;
    const int k = 10;
    // Clustered codes, as a trained model gives them: many exact ties.
    const BitCodes codes = test::random_codes(3000, bits, 11, 40);
    const BitCodes queries = test::random_codes(50, bits, 12, 40);
    const std::vector<std::int64_t> ids = scattered_ids(codes.size());
    write_faiss_binary_index({FaissBinaryKind::Flat, codes, {}}, dir.file("flat.faiss"));
    write_faiss_binary_index({FaissBinaryKind::IDMap, codes, ids}, dir.file("idmap.faiss"));
    write_faiss_binary_index({FaissBinaryKind::IDMap2, codes, ids}, dir.file("idmap2.faiss"));
    test::write_bytes(dir.file("codes.u8"), to_faiss_bytes(codes));
    test::write_bytes(dir.file("queries.u8"), to_faiss_bytes(queries));
    std::vector<std::uint8_t> id_bytes(ids.size() * 8);
    std::memcpy(id_bytes.data(), ids.data(), id_bytes.size());
    test::write_bytes(dir.file("ids.i64"), id_bytes);
    HammingIndex index(bits, 2);
    index.add(codes);
    const KnnResult ours = index.search(queries, k);
    std::vector<std::uint8_t> d_bytes(ours.distances.size() * 4);
    std::memcpy(d_bytes.data(), ours.distances.data(), d_bytes.size());
    test::write_bytes(dir.file("expected_distances.i32"), d_bytes);

    const std::string cmd = python + " " DEEPHASH_SOURCE_DIR "/tests/faiss_interop.py " + dir.path.string() + " " +
                            std::to_string(bits) + " " + std::to_string(k);
    REQUIRE(std::system(cmd.c_str()) == 0);

    const std::vector<std::uint8_t> their_codes = read_file_bytes(dir.file("faiss_codes.u8"));
    const std::vector<std::uint8_t> their_id_bytes = read_file_bytes(dir.file("faiss_ids.i64"));
    const int padded = 8 * faiss_code_size(bits);
    const BitCodes expected = from_faiss_bytes(their_codes.data(), their_codes.size() / std::size_t(faiss_code_size(bits)), padded);
    std::vector<std::int64_t> their_ids(their_id_bytes.size() / 8);
    std::memcpy(their_ids.data(), their_id_bytes.data(), their_id_bytes.size());
    const FaissBinaryIndex flat = read_faiss_binary_index(dir.file("faiss_flat.faiss"));
    CHECK(flat.kind == FaissBinaryKind::Flat);
    CHECK(flat.codes == expected);
    const FaissBinaryIndex mapped = read_faiss_binary_index(dir.file("faiss_idmap2.faiss"));
    CHECK(mapped.kind == FaissBinaryKind::IDMap2);
    CHECK(mapped.codes == expected);
    CHECK(mapped.ids == their_ids);
    // And what FAISS wrote, we write back to the byte.
    CHECK(faiss_binary_index_bytes(mapped, "t") == read_file_bytes(dir.file("faiss_idmap2.faiss")));
    CHECK(faiss_binary_index_bytes(flat, "t") == read_file_bytes(dir.file("faiss_flat.faiss")));
  }
}
