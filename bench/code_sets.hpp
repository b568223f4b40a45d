#pragma once
// The benchmark material of the one-run tables (bench_tables.cpp): sets of codes written once by
// write_code_sets.cpp into a cache folder and read back by every later run.
//
// A set NAME is a folder DIR/NAME holding
//   database-000.dhc, database-001.dhc, ...  the database, in parts (encoded-set files, labels =
//                                            class or generating centre); written one part at a
//                                            time, so that an interrupted writer resumes at the
//                                            first missing part
//   queries.dhc                              the queries: never database codes (see below)
//   about.txt                                what the set is: how it was made, its parameters,
//                                            and what it looks like (distance histograms,
//                                            duplicates), written last
//   complete                                 the number of database parts; readers refuse a set
//                                            without it (an unfinished or interrupted one)
// DIR is --cache, else $DEEPHASH_BENCH_CACHE, else build/bench-cache under the current folder.
//
// Two kinds of set:
//
// Real codes ("cifar10-48bit-aug", "fashion-mnist-48bit-aug", and the other shipped models' lengths):
// what a shipped model gives for real images under seeded random augmentations (write_code_sets.cpp
// says which). Queries are images that no database code comes from (held-out training images for
// CIFAR-10, test images for Fashion-MNIST).
//
// Synthetic codes ("synthetic-c<centres>-p<flip>-n<count>-b<bits>", c0 = uniform): `centres`
// uniform random centres; each code is a centre drawn uniformly with every bit flipped
// independently with probability `flip` (its distance to the centre is Binomial(bits, flip)).
// Nothing here is fitted to what favours an index: the flip rate is the set's one parameter and
// in its name, and about.txt records the distance histogram to the generating centre, to the
// nearest centre (on a sample), and the share of exact duplicates. Queries are drawn the same way
// from the same centres with another seed, independently of the database (so they are not
// database codes, though in a dense set a query may coincide with one: about.txt says how often).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <deephash/codes/bit_codes.hpp>
#include <deephash/core/error.hpp>
#include <deephash/io/container/codes_file.hpp>

namespace deephash::bench {

inline std::string cache_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("DEEPHASH_BENCH_CACHE")) return env;
  return "build/bench-cache";
}

inline std::string part_name(std::size_t part) {
  char name[32];
  std::snprintf(name, sizeof name, "database-%03zu.dhc", part);
  return name;
}

// A finished set, read back: the parts joined in order.
struct CodeSet {
  std::string name, about;
  EncodedSet database, queries;
};

// The first `parts` database parts and the queries of the set in `folder` (finished or not).
inline CodeSet load_code_set_parts(const std::filesystem::path& folder, std::size_t parts) {
  namespace fs = std::filesystem;
  CodeSet s;
  s.name = folder.filename().string();
  for (std::size_t p = 0; p < parts; ++p) {
    EncodedSet part = load_encoded_set((folder / part_name(p)).string());
    if (p == 0) s.database = std::move(part);
    else append_encoded_set(s.database, std::move(part), (folder / part_name(p)).string());
  }
  s.queries = load_encoded_set((folder / "queries.dhc").string());
  std::ifstream about(folder / "about.txt");
  std::stringstream text;
  text << about.rdbuf();
  s.about = text.str();
  return s;
}

inline CodeSet load_code_set(const std::string& dir, const std::string& name) {
  const std::filesystem::path folder = std::filesystem::path(dir) / name;
  std::ifstream complete(folder / "complete");
  std::size_t parts = 0;
  if (!(complete >> parts) || parts == 0)
    throw Error(folder.string(), "is not a finished code set (no 'complete' file): write it with deephash_bench_write_sets --set " + name);
  return load_code_set_parts(folder, parts);
}

// ---- synthetic sets ----

struct SyntheticSpec {
  std::size_t centres = 1000;  // 0: uniform random codes
  double flip = 0.1;           // per-bit flip probability around the centre
  std::size_t n = 10'000'000, queries = 1000;
  int bits = 64;
  std::uint64_t seed = 1;

  std::string name() const {
    std::ostringstream s;
    s << "synthetic-c" << centres << "-p" << flip << "-n" << n << "-b" << bits;
    return s.str();
  }
};

// "synthetic-c1000-p0.1-n10000000-b64" back to its spec (the name is the whole specification).
inline SyntheticSpec parse_synthetic_name(const std::string& name) {
  SyntheticSpec s;
  char tail = 0;
  unsigned long long centres = 0, n = 0;
  if (std::sscanf(name.c_str(), "synthetic-c%llu-p%lf-n%llu-b%d%c", &centres, &s.flip, &n, &s.bits, &tail) != 4 ||
      !(s.flip >= 0 && s.flip <= 0.5) || n == 0)
    throw Error(name, "is not a synthetic set name: synthetic-c<centres, 0 = uniform>-p<flip rate, 0..0.5>-n<count>-b<bits>");
  check_code_bits(s.bits, name);
  s.centres = centres;
  s.n = n;
  return s;
}

inline BitCodes uniform_codes(std::size_t n, int bits, std::mt19937_64& rng) {
  BitCodes out(n, bits);
  const int w = out.words_per_code();
  const std::uint64_t mask = last_word_mask(bits);
  for (std::size_t i = 0; i < n; ++i)
    for (int j = 0; j < w; ++j) out.code(i)[j] = rng() & (j == w - 1 ? mask : ~std::uint64_t(0));
  return out;
}

inline BitCodes synthetic_centres(const SyntheticSpec& s) {
  std::mt19937_64 rng(s.seed * 0x9E3779B97F4A7C15ull + 17);
  return uniform_codes(std::max<std::size_t>(s.centres, 1), s.bits, rng);
}

// Codes [first, first + count) of the stream `stream` (0 database, 1 queries): each chunk of 2^16
// codes has its own generator, so that any part is the same whichever threads or parts made it.
// labels: the generating centre (-1 for uniform codes).
inline void synthetic_codes(const SyntheticSpec& s, const BitCodes& centres, int stream, std::size_t first, std::size_t count,
                            BitCodes& out, std::vector<int>& labels) {
  constexpr std::size_t kChunk = 1 << 16;
  out = BitCodes(count, s.bits);
  labels.assign(count, -1);
  const int w = out.words_per_code();
  const std::size_t chunk_first = first / kChunk, chunk_last = (first + count + kChunk - 1) / kChunk;
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (std::size_t c = chunk_first + t; c < chunk_last; c += threads) {
        std::seed_seq seq{std::uint64_t(s.seed), std::uint64_t(stream), std::uint64_t(c)};
        std::mt19937_64 rng(seq);
        std::binomial_distribution<int> distance(s.bits, s.flip);
        for (std::size_t g = c * kChunk; g < (c + 1) * kChunk; ++g) {
          // Every code draws the same numbers whether or not it is in range, so that a code's
          // value depends only on (seed, stream, its position).
          if (s.centres == 0) {
            std::uint64_t words[kMaxCodeBits / 64];
            for (int j = 0; j < w; ++j) words[j] = rng();
            if (g < first || g >= first + count) continue;
            for (int j = 0; j < w; ++j) out.code(g - first)[j] = words[j] & (j == w - 1 ? last_word_mask(s.bits) : ~0ull);
            continue;
          }
          const std::size_t centre = std::size_t(rng() % s.centres);
          const int d = distance(rng);
          // d distinct positions (Floyd's sampling): the flipped set of independent per-bit
          // flips, given how many there are, is uniform over the d-subsets.
          std::uint64_t flips[kMaxCodeBits / 64] = {};
          for (int j = s.bits - d; j < s.bits; ++j) {
            int b = int(rng() % std::uint64_t(j + 1));
            if ((flips[b / 64] >> (b % 64)) & 1) b = j;
            flips[b / 64] |= std::uint64_t(1) << (b % 64);
          }
          if (g < first || g >= first + count) continue;
          for (int j = 0; j < w; ++j) out.code(g - first)[j] = centres.code(centre)[j] ^ flips[j];
          labels[g - first] = int(centre);
        }
      }
    });
  for (auto& t : workers) t.join();
}

}  // namespace deephash::bench
