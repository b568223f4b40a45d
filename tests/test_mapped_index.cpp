// Mappable index files: map_index answers exactly as the index that was saved and as load_index,
// points into the file's shared pages without reading it, checks each chunk when first used
// (naming the file and the chunk), never writes the file, and refuses hostile files that carry
// correct checksums.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <deephash/io/container/index_file.hpp>
#include <deephash/search/hamming_index.hpp>
#include <deephash/search/multi_index_hashing.hpp>

#include "fuzz/fuzz_target.hpp"
#include "support.hpp"

using namespace deephash;

namespace {

// A flat index of `codes` with ids 0, step, 2 step, ... saved at `path`; the file's bytes.
std::vector<std::uint8_t> save_with_ids(const std::string& path, const BitCodes& codes, idx_t step) {
  std::vector<idx_t> ids(codes.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = idx_t(i) * step;
  HammingIndex index(codes.bits(), 1);
  index.add_with_ids(codes, ids);
  index.save(path);
  return read_file_bytes(path);
}

// Whether this process maps `path` shared and read-only ("r--s" in /proc/self/maps): pages of the
// page cache, which every process mapping the file shares.
bool mapped_shared(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(path) != std::string::npos && line.find(" r--s ") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a mapped index answers as the saved one, for every kind, code length and id scheme") {
  test::TempDir dir;
  for (int bits : {1, 20, 64, 100, 192, 4096})
    for (std::size_t n : {std::size_t(0), std::size_t(17), std::size_t(2000)})
      for (bool with_ids : {false, true}) {
        const BitCodes codes = test::random_codes(n, bits, std::uint64_t(bits) * 31 + n);
        const BitCodes queries = test::random_codes(4, bits, 99);
        std::vector<idx_t> ids(n);
        for (std::size_t i = 0; i < n; ++i) ids[i] = idx_t(n - i) * 5;  // descending on purpose
        HammingIndex flat(bits, 2);
        MultiIndexHashing mih(bits, 0, 2);
        for (BinaryIndex* index : {static_cast<BinaryIndex*>(&flat), static_cast<BinaryIndex*>(&mih)}) {
          if (with_ids) index->add_with_ids(codes, ids);
          else index->add(codes);
          const std::string path = dir.file(index->kind() + std::to_string(bits) + "-" + std::to_string(n) + "-" +
                                            std::to_string(with_ids) + ".dhx");
          index->save(path);
          INFO(index->kind() << " bits=" << bits << " n=" << n << " ids=" << with_ids);
          const auto mapped = map_index(path, 2);
          REQUIRE(mapped->kind() == index->kind());
          CHECK(mapped->ids() == index->ids());
          CHECK(mapped->codes() == index->codes());
          for (idx_t k : {idx_t(1), idx_t(10), idx_t(n) + 3}) {
            const KnnResult want = index->search(queries, k), got = mapped->search(queries, k);
            CHECK(got.labels == want.labels);
            CHECK(got.distances == want.distances);
          }
          const RangeSearchResult want = index->range_search(queries, bits / 2), got = mapped->range_search(queries, bits / 2);
          CHECK(got.lims == want.lims);
          CHECK(got.labels == want.labels);
          CHECK(load_index(path, 2)->codes() == index->codes());
          const IndexFileSummary summary = verify_index_file(path);
          CHECK(summary.kind == index->kind());
          CHECK(summary.mappable);
          CHECK(summary.size == idx_t(n));
          CHECK(summary.bits == bits);
          CHECK(summary.ids == (with_ids && n > 0));
        }
      }
}

TEST_CASE("a mapped flat index lives in the file's shared pages, and changes copy it, never the file") {
  test::TempDir dir;
  const std::string path = dir.file("shared.dhx");
  const BitCodes codes = test::random_codes(100000, 64, 3);
  {
    HammingIndex index(64, 2);
    index.add(codes);
    index.save(path);
  }
  const std::vector<std::uint8_t> file = read_file_bytes(path);
  {
    auto mapped = map_index(path, 2);
    CHECK(mapped_shared(path));
    CHECK(mapped->memory_bytes() < 4096);  // 800 KB of codes, none of them in memory of its own
    const BitCodes queries = codes.slice(10, 20);
    const KnnResult before = mapped->search(queries, 5);
    CHECK(before.label(0, 0) == 10);

    // Saving a new index over the file while it is mapped: the mapping keeps the old file.
    HammingIndex other(64, 2);
    other.add(test::random_codes(10, 64, 4));
    other.save(path);
    CHECK(mapped->search(queries, 5).labels == before.labels);
    CHECK(map_index(path, 2)->size() == 10);
    write_file_atomically(path, file);

    // A change copies the codes into memory first.
    const BitCodes more = test::random_codes(50, 64, 5);
    mapped->add(more);
    mapped->remove_ids({idx_t(3), idx_t(100020)});
    HammingIndex expected(64, 2);
    expected.add(codes);
    expected.add(more);
    expected.remove_ids({idx_t(3), idx_t(100020)});
    CHECK(mapped->memory_bytes() >= 100000 * 8);
    CHECK(mapped->ids() == expected.ids());
    CHECK(mapped->search(queries, 7).labels == expected.search(queries, 7).labels);
  }
  CHECK_FALSE(mapped_shared(path));  // unmapped with the index
  CHECK(read_file_bytes(path) == file);
}

TEST_CASE("a corrupted chunk is found when first used, naming the file and the chunk") {
  test::TempDir dir;
  const std::string path = dir.file("big.dhx");
  // 300,000 64-bit codes and ids: 2.4 MB of each, three 1 MiB chunks.
  const std::size_t n = 300000;
  const BitCodes codes = test::random_codes(n, 64, 7);
  const std::vector<std::uint8_t> good = save_with_ids(path, codes, 2);
  const MappableIndexLayout layout(64, n, true, kIndexChunkBytes);

  // A bit flipped in the second chunk of the codes.
  std::vector<std::uint8_t> bad = good;
  bad[layout.codes_offset + kIndexChunkBytes + 100] ^= 4;
  write_file_atomically(path, bad);
  const std::string where = "checksum mismatch in chunk 1 of the codes (bytes " +
                            std::to_string(layout.codes_offset + kIndexChunkBytes) + " to " +
                            std::to_string(layout.codes_offset + 2 * kIndexChunkBytes) + ")";
  {
    const auto mapped = map_index(path, 2);  // opens: nothing read yet
    std::vector<std::uint64_t> code(1);
    mapped->reconstruct(0, code.data());  // chunk 0: fine
    CHECK(code[0] == codes.code(0)[0]);
    const std::string message = test::error_message([&] { mapped->search(codes.slice(0, 3), 5); });
    CHECK(message.find(path) == 0);
    CHECK(message.find(where) != std::string::npos);
    // Reported again, never taken as good after a first failure.
    CHECK_THROWS_WITH_AS(mapped->search(codes.slice(0, 1), 1), doctest::Contains(where.c_str()), Error);
    CHECK_THROWS_WITH_AS(mapped->add(codes.slice(0, 1)), doctest::Contains(where.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(map_index(path, 2, Verification::now), doctest::Contains(where.c_str()), Error);
  CHECK_THROWS_WITH_AS(load_index(path, 2), doctest::Contains(where.c_str()), Error);
  CHECK_THROWS_WITH_AS(verify_index_file(path), doctest::Contains(where.c_str()), Error);
  CHECK_THROWS_WITH_AS(map_index(path, 2)->save(dir.file("copy.dhx")), doctest::Contains(where.c_str()), Error);

  // A damaged id chunk: the ids are read when results are written.
  bad = good;
  bad[layout.ids_offset + 2 * kIndexChunkBytes + 8] ^= 1;
  write_file_atomically(path, bad);
  {
    const auto mapped = map_index(path, 2);
    const std::size_t last = n - 1;  // its id lies in the third chunk of the ids
    CHECK_THROWS_WITH_AS(mapped->search(codes.slice(last, last + 1), 1), doctest::Contains("chunk 2 of the ids"), Error);
    CHECK_THROWS_WITH_AS(mapped->contains(4), doctest::Contains("chunk 2 of the ids"), Error);
  }
  // The header, its checksum table, and the file's length are checked when it opens.
  bad = good;
  bad[layout.checksums_offset] ^= 1;
  write_file_atomically(path, bad);
  CHECK_THROWS_WITH_AS(map_index(path, 2), doctest::Contains("checksum mismatch in the header"), Error);
  bad = good;
  bad.resize(good.size() - 1);
  write_file_atomically(path, bad);
  CHECK_THROWS_WITH_AS(map_index(path, 2), doctest::Contains("truncated"), Error);
  bad.resize(1000);
  write_file_atomically(path, bad);
  CHECK_THROWS_WITH_AS(map_index(path, 2), doctest::Contains("less than the 4096-byte header"), Error);
}

TEST_CASE("hostile mappable files with correct checksums are refused by name") {
  test::TempDir dir;
  const std::string path = dir.file("hostile.dhx");
  const std::size_t n = 40;
  const std::vector<std::uint8_t> good = save_with_ids(path, test::random_codes(n, 20, 8), 10);
  const MappableIndexLayout layout(20, n, true, kIndexChunkBytes);

  // Fields checked before the checksums need no resealing (and could not be: they say where).
  auto refused = [&](std::vector<std::uint8_t> bytes, const std::string& problem, bool sealed = true) {
    if (sealed) bytes = reseal_mappable_index(bytes);
    write_file_atomically(path, bytes);
    INFO(problem);
    CHECK_THROWS_WITH_AS(map_index(path, 1, Verification::now), doctest::Contains((path + ": " + problem).c_str()), Error);
    CHECK_THROWS_WITH_AS(load_index(path, 1), doctest::Contains(problem.c_str()), Error);
  };
  auto bytes = good;
  bytes[layout.codes_offset + 5 * 8 + 3] |= 0x80;  // code 5, bit 31 of a 20-bit code
  refused(bytes, "code 5 has bits set past its 20 bits");
  bytes = good;
  const idx_t zero = 0;
  std::memcpy(bytes.data() + layout.ids_offset + 7 * 8, &zero, 8);
  refused(bytes, "id 0 at position 7 does not follow 60 in ascending order");
  bytes = good;
  bytes[28] = 21;  // tables
  refused(bytes, "declares 21 tables for 20-bit codes");
  bytes = good;
  bytes[32] = 0xe8;  // n = 1000
  bytes[33] = 0x03;
  refused(bytes, "the sections are not where 1000 codes of 20 bits with ids put them", false);
  bytes = good;
  bytes[48] = 1;  // chunk size 2^20 + 1
  refused(bytes, "chunk size 1048577 is not a multiple of 4096", false);
  bytes = good;
  std::memset(bytes.data() + 32, 0xff, 8);  // n = 2^64 - 1
  refused(bytes, "declares 18446744073709551615 codes", false);
  bytes = good;
  bytes[24] = 0;  // bits
  bytes[25] = 0;
  refused(bytes, "code length 0 bits is out of range", false);
}

namespace {

// Where the extra sections of a mappable file lie (from its header), and section `name`'s offset.
std::uint64_t section_offset(const std::vector<std::uint8_t>& file, const std::string& name) {
  std::uint32_t bits;
  std::uint64_t n, flags, count;
  std::memcpy(&bits, file.data() + 24, 4);
  std::memcpy(&n, file.data() + 32, 8);
  std::memcpy(&flags, file.data() + 40, 8);
  std::memcpy(&count, file.data() + 80, 8);
  std::vector<std::uint64_t> sizes(count);
  std::memcpy(sizes.data(), file.data() + 88, count * 8);
  const MappableIndexLayout layout(int(bits), n, flags & 1, kIndexChunkBytes, sizes);
  for (std::size_t i = 0; i < count; ++i)
    if (kMihSectionNames[i] == name) return layout.section_offsets[i];
  return 0;
}

}  // namespace

TEST_CASE("a mapped multi-index hashing file opens with its tables, rebuilding nothing, and answers the same") {
  test::TempDir dir;
  const std::string path = dir.file("mih.dhx");
  // Clustered codes, so that the pivot shells hold something, and a tail past the tables.
  BitCodes codes = test::random_codes(70000, 64, 31, 300);
  codes.append(test::random_codes(7, 64, 32));
  MultiIndexHashing mih(64, 0, 2);
  mih.add(codes.slice(0, 70000));
  mih.rebuild();
  mih.add(codes.slice(70000, codes.size()));  // scanned, not tabled
  mih.save(path);
  BitCodes queries = codes.slice(100, 130);  // near the codes: probed
  queries.append(test::random_codes(10, 64, 33));  // far from them: pivots or the scan
  const auto mapped = map_index(path, 2);
  const auto& m = dynamic_cast<const MultiIndexHashing&>(*mapped);
  CHECK(m.tables() == mih.tables());
  CHECK(mapped->memory_bytes() == 0);  // codes, tables and shells all in the file's pages
  for (idx_t k : {idx_t(1), idx_t(10), idx_t(1000)}) {
    const KnnResult want = mih.search(queries, k), got = mapped->search(queries, k);
    CHECK(got.labels == want.labels);
    CHECK(got.distances == want.distances);
  }
  const RangeSearchResult want = mih.range_search(queries, 6), got = mapped->range_search(queries, 6);
  CHECK(got.lims == want.lims);
  CHECK(got.labels == want.labels);
  CHECK(m.query_counts().probed > 0);  // the file's tables answered, not only the scan
  // Saved again from the mapping: the same bytes.
  CHECK(dynamic_cast<const StoredCodesIndex&>(*mapped).to_bytes() == read_file_bytes(path));

  // A file of the previous version (MIHX 2: codes only) still opens, building its tables.
  const std::string old = dir.file("v2.dhx");
  write_index_file(old, {kMihIndexFileKind, 2, 0}, mih.stored());
  const auto rebuilt = map_index(old, 2);
  CHECK(dynamic_cast<const MultiIndexHashing&>(*rebuilt).tables() == mih.tables());
  CHECK(rebuilt->memory_bytes() >= 70000 * 4);  // its postings, at least
  CHECK(rebuilt->search(queries, 10).labels == mih.search(queries, 10).labels);
}

TEST_CASE("a corrupted or hostile table section of a multi-index hashing file is refused by name") {
  test::TempDir dir;
  const std::string path = dir.file("mih.dhx");
  const BitCodes codes = test::random_codes(70000, 64, 41, 300);
  MultiIndexHashing mih(64, 2, 2);  // two 32-bit tables: searched by key, not indexed by it
  mih.add(codes);
  mih.save(path);
  const std::vector<std::uint8_t> good = read_file_bytes(path);
  const BitCodes queries = codes.slice(0, 4);
  const std::uint64_t entries = section_offset(good, "table entries");
  REQUIRE(entries > 0);

  std::vector<std::uint8_t> bad = good;
  bad[entries + 5] ^= 0x10;
  write_file_atomically(path, bad);
  {
    const auto mapped = map_index(path, 2);  // opens: nothing of the tables read yet
    CHECK_THROWS_WITH_AS(mapped->search(queries, 1), doctest::Contains("checksum mismatch in chunk 0 of the table entries"), Error);
  }
  CHECK_THROWS_WITH_AS(map_index(path, 2, Verification::now), doctest::Contains("chunk 0 of the table entries"), Error);
  CHECK_THROWS_WITH_AS(verify_index_file(path), doctest::Contains("chunk 0 of the table entries"), Error);

  // Sealed with correct checksums around an entry naming no distinct code.
  bad = good;
  const std::uint32_t huge = 0x7fffffff;
  std::memcpy(bad.data() + entries, &huge, 4);
  write_file_atomically(path, reseal_mappable_index(bad));
  CHECK_THROWS_WITH_AS(map_index(path, 2, Verification::now), doctest::Contains("table entry 0 is 2147483647, out of range"), Error);
  // A layout that does not fit the codes.
  bad = good;
  const std::uint64_t layout = section_offset(good, "table layout");
  bad[layout] = 3;  // three tables, where the layout describes two
  write_file_atomically(path, reseal_mappable_index(bad));
  CHECK_THROWS_WITH_AS(map_index(path, 2), doctest::Contains("the multi-index hashing tables do not fit the index's codes: 3 tables"), Error);
}
