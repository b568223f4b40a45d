// Thread pool, checksums, atomic files and the container format; the index file round trip.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include <deephash/core/checksum.hpp>
#include <deephash/core/thread_pool.hpp>
#include <deephash/io/container/index_file.hpp>

#include "support.hpp"

using namespace deephash;
using test::TempDir;
namespace fs = std::filesystem;

namespace {
void write_raw(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}
}  // namespace

TEST_CASE("CRC-32 matches the standard check value and continues across pieces") {
  const char* s = "123456789";
  CHECK(crc32(s, 9) == 0xCBF43926u);
  CHECK(crc32(s + 4, 5, crc32(s, 4)) == 0xCBF43926u);
  CHECK(crc32(s, 0) == 0u);
}

TEST_CASE("thread pool: every index once, exceptions propagate, nested and concurrent calls") {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(hits.size(), [&](std::size_t i) { ++hits[i]; });
  for (auto& h : hits) CHECK(h == 1);
  CHECK_THROWS_WITH(pool.parallel_for(10, [](std::size_t i) { if (i == 7) throw std::runtime_error("task 7"); }), "task 7");
  std::atomic<int> nested{0};
  pool.parallel_for(4, [&](std::size_t) { pool.parallel_for(5, [&](std::size_t) { ++nested; }); });
  CHECK(nested == 20);
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] { pool.parallel_for(100, [&](std::size_t i) { total += long(i); }); });
  for (auto& c : callers) c.join();
  CHECK(total == 4 * 4950);
  std::size_t covered = 0;
  pool.parallel_ranges(10, [&](std::size_t b, std::size_t e) { covered += e - b; });
  CHECK(covered == 10);
}

TEST_CASE("thread pool: resized while other threads run parallel_for; counts out of range are refused") {
  ThreadPool pool(1);
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0}, calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      while (!stop) {
        std::vector<std::atomic<int>> hits(257);
        pool.parallel_for(hits.size(), [&](std::size_t i) { ++hits[i]; });
        for (auto& h : hits) wrong += h != 1;
        ++calls;
      }
    });
  for (unsigned n : {4u, 1u, 8u, 2u, 1u, 5u, 3u, 1u, 6u}) {
    pool.resize(n);
    CHECK(pool.num_threads() == n);
    const long seen = calls;
    while (calls < seen + 3) std::this_thread::yield();  // some calls run at this size
  }
  stop = true;
  for (auto& c : callers) c.join();
  CHECK(wrong == 0);
  // The workers are really there: 4 tasks each wait (up to 10 s) until all 4 run at once.
  pool.resize(4);
  std::atomic<int> arrived{0}, met{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  pool.parallel_for(4, [&](std::size_t) {
    ++arrived;
    while (arrived < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    met += arrived == 4;
  });
  CHECK(met == 4);

  CHECK(check_num_threads(kMaxThreads, "--threads") == kMaxThreads);
  for (long long n : {0LL, -3LL, kMaxThreads + 1LL, 5000LL})
    CHECK(test::error_message([&] { check_num_threads(n, "--threads"); }) ==
          "--threads: must be between 1 and 1024 threads, got " + std::to_string(n));
}

TEST_CASE("index file round trip") {
  TempDir dir;
  for (int bits : {12, 64, 130, 1000}) {
    const BitCodes codes = test::random_codes(20000 + std::size_t(bits), bits, std::uint64_t(bits));
    HammingIndex index(bits);
    index.add(codes);
    const std::string path = dir.file("index-" + std::to_string(bits) + ".dhx");
    save_index(index, path);
    const auto loaded = load_index(path);
    CHECK(loaded->kind() == "flat");
    CHECK(loaded->bits() == bits);
    CHECK(loaded->codes() == codes);
    const BitCodes q = codes.slice(0, 3);
    CHECK(loaded->search(q, 5).labels == index.search(q, 5).labels);
  }
  HammingIndex empty(48);
  save_index(empty, dir.file("empty.dhx"));
  CHECK(load_index(dir.file("empty.dhx"))->size() == 0);
}

TEST_CASE("a damaged index file gives an error that names the file and the problem") {
  TempDir dir;
  HammingIndex index(48);
  index.add(test::random_codes(100, 48, 5));
  const std::string good = dir.file("good.dhx");
  save_index(index, good);
  const std::vector<std::uint8_t> bytes = read_file_bytes(good);
  const std::string bad = dir.file("bad.dhx");

  auto expect = [&](std::vector<std::uint8_t> b, const char* problem) {
    write_raw(bad, b);
    const std::string message = test::error_message([&] { load_index(bad); });
    INFO(message);
    CHECK(message.find(bad) == 0);
    CHECK(message.find(problem) != std::string::npos);
  };
  expect({bytes.begin(), bytes.begin() + 100}, "truncated");
  expect({bytes.begin(), bytes.begin() + 5}, "not a deephash HIDX file");
  expect({}, "not a deephash HIDX file");
  auto flipped = bytes;
  flipped[200] ^= 0x10;
  expect(flipped, "checksum mismatch");
  auto newer = bytes;
  newer[12] = 9;
  expect(newer, "written by a newer deephash");
  auto kind = bytes;
  kind[8] = 'M';
  expect(kind, "is a deephash 'MIDX' file");
  auto longer = bytes;
  longer.push_back(0);
  expect(longer, "unexpected trailing bytes");
  CHECK_THROWS_WITH_AS(load_index(dir.file("missing.dhx")), doctest::Contains("cannot open"), Error);
}

TEST_CASE("a failed save leaves the previous file intact and no temporary file behind") {
  TempDir dir;
  const std::string path = dir.file("keep.dhx");
  HammingIndex first(32);
  first.add(test::random_codes(10, 32, 1));
  save_index(first, path);
  const auto before = read_file_bytes(path);
  {
    AtomicFileWriter w(path);
    w.write("partial", 7);
    // destroyed without commit(): as if the process had failed mid-save
  }
  CHECK(read_file_bytes(path) == before);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
  // A directory that cannot hold the temporary file: the error says so and names the path.
  CHECK_THROWS_WITH_AS(save_index(first, dir.file("no/such/dir/x.dhx")),
                       doctest::Contains("cannot create a temporary file"), Error);
}

TEST_CASE("saved files get the usual permissions, and keep those of the file they replace") {
  TempDir dir;
  const mode_t old_mask = ::umask(022);
  const std::string path = dir.file("mode.dhx");
  HammingIndex index(16);
  save_index(index, path);
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  save_index(index, path);
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  ::umask(old_mask);
}
