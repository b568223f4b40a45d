#pragma once
// Helpers shared by the tests: random codes with plenty of ties, and brute-force references.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"
#include "deephash/search/top_k.hpp"

// Cases that need data or a tool that may be absent are declared with DEEPHASH_OPTIONAL_TEST_CASE
// (doctest's test suite "optional") and registered in tests/CMakeLists.txt with
// deephash_add_optional_test, which gives each its own ctest entry running that case alone; the
// executable's own entry leaves them out (test_main.cpp). Such a case calls skip_unless first.
#define DEEPHASH_OPTIONAL_TEST_CASE(name) TEST_CASE(name * doctest::test_suite("optional"))

namespace deephash::test {

// Where `present` is false: prints "skipped: <why>" and ends the process with status 77, which
// ctest reports as skipped (SKIP_RETURN_CODE). Only for DEEPHASH_OPTIONAL_TEST_CASE cases, whose
// process runs that case alone, before they create anything that needs cleaning up.
inline void skip_unless(bool present, const std::string& why) {
  if (present) return;
  std::printf("skipped: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(77);
}

// Fills a blob (anything with count() and data()) with draws from N(mean, stddev^2): the same
// values for the same seed.
template <class Blob>
void fill_normal(Blob& blob, std::uint64_t seed, double mean, double stddev) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(mean, stddev);
  for (std::size_t i = 0; i < blob.count(); ++i) blob.data()[i] = g(rng);
}

// A fresh directory under the system's temporary directory, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("deephash-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Writes `bytes` to `path`, creating its folder.
inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out.good()) throw Error(path, "cannot write the test file");
}

// n codes whose bits are set with probability `density`. With a small `distinct`, codes are drawn
// from that many prototypes so that many distances tie.
inline BitCodes random_codes(std::size_t n, int bits, std::uint64_t seed, std::size_t distinct = 0,
                             double density = 0.5) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution on(density);
  auto draw = [&](BitCodes& c, std::size_t i) {
    for (int j = 0; j < bits; ++j) c.set_bit(i, j, on(rng));
  };
  BitCodes codes(n, bits);
  if (distinct == 0) {
    for (std::size_t i = 0; i < n; ++i) draw(codes, i);
    return codes;
  }
  BitCodes protos(distinct, bits);
  for (std::size_t i = 0; i < distinct; ++i) draw(protos, i);
  std::uniform_int_distribution<std::size_t> pick(0, distinct - 1);
  const int w = codes.words_per_code();
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t* p = protos.code(pick(rng));
    std::copy(p, p + w, codes.code(i));
  }
  return codes;
}

// The message of the deephash::Error that fn() throws, or "" if it throws none.
template <class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline int hamming(const BitCodes& a, std::size_t i, const BitCodes& b, std::size_t j) {
  int d = 0;
  for (int w = 0; w < a.words_per_code(); ++w) d += __builtin_popcountll(a.code(i)[w] ^ b.code(j)[w]);
  return d;
}

// All database codes ordered by (distance, id): what a stable sort of the distances gives.
inline std::vector<Neighbor> brute_force_ranking(const BitCodes& db, const BitCodes& queries,
                                                 std::size_t q) {
  std::vector<Neighbor> all(db.size());
  for (std::size_t i = 0; i < db.size(); ++i) all[i] = {hamming(queries, q, db, i), idx_t(i)};
  std::stable_sort(all.begin(), all.end(),
                   [](const Neighbor& a, const Neighbor& b) { return a.distance < b.distance; });
  return all;
}

}  // namespace deephash::test
