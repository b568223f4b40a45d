// deephash_bench_write_sets: writes the benchmark material of the one-run tables (bench_tables.cpp)
// into a cache folder, once; bench/code_sets.hpp says what a set folder holds.
//
//   deephash_bench_write_sets --set NAME [--cache DIR] [--queries N]
//
// Real codes: NAME = <model>-aug or <model>-aug<R> (R rounds, below), <model> one of the shipped
// models (examples/models/: cifar10-48bit, cifar10-32bit, cifar10-12bit, fashion-mnist-48bit;
// there is no 64-bit model).
//   database  the model's own training collection's database images (CIFAR-10: the training
//             archive's 40,000 database images under the project's hold-out rule; Fashion-MNIST:
//             the 60,000 training images), R times: round 0 as they are, rounds 1..R-1 each image
//             under its own random augmentation. Without R in the name, the rounds that pass
//             10^6 codes (CIFAR-10: 25 -> 1,000,000; Fashion-MNIST: 17 -> 1,020,000). One round is one part
//             file, so an interrupted run resumes at the first missing round.
//   queries   N (1,000) images evenly spaced over images no database code comes from (CIFAR-10:
//             the held-out query images; Fashion-MNIST: the test images), once as they are and
//             once augmented: 2N queries.
//   Augmentation (seeded by round and image; the same every run): horizontal flip (p 0.5);
//   a crop of 80-100% of the side at a random position, resized back; a rotation of -15..15
//   degrees (one affine map with the crop, bilinear, edges clamped); brightness -25..25 grey
//   levels and contrast x0.75..1.25 about the image's mean; Gaussian noise of sigma 0..8.
//   Encoding is the model's forward pass, image by image: each round prints its rate; 10^6
//   images take hours on two cores. Run it once; the cache keeps it.
//
// Synthetic codes: NAME = synthetic-c<centres>-p<flip>-n<count>-b<bits> (code_sets.hpp), e.g.
//   synthetic-c10-p0.1-n10000000-b64, -c1000-, -c100000-, and c0 for uniform codes. Parts of
//   10^7 codes. --queries N (1,000).
//
// about.txt records, for both kinds: the distance histogram of database codes to their own
// centre (synthetic: the generating one; real: the class centre, the per-bit majority of the
// class's codes), to the nearest centre (a sample of 10,000 codes), the share of exact
// duplicates, and the histogram of each query's distance to its nearest database code.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include <deephash/codes/binarize.hpp>
#include <deephash/core/thread_pool.hpp>
#include <deephash/data/batch_stream.hpp>
#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/search/hamming_index.hpp>
#include <deephash/workflow/sets.hpp>

#include "code_sets.hpp"

namespace fs = std::filesystem;
using namespace deephash;

namespace {

int distance(const std::uint64_t* a, const std::uint64_t* b, int words) {
  int d = 0;
  for (int j = 0; j < words; ++j) d += __builtin_popcountll(a[j] ^ b[j]);
  return d;
}

std::string histogram_line(const std::vector<std::size_t>& h) {
  std::size_t total = 0;
  for (auto c : h) total += c;
  std::ostringstream out;
  std::size_t last = h.size();
  while (last > 0 && h[last - 1] == 0) --last;
  for (std::size_t d = 0; d < last; ++d) {
    char cell[48];
    std::snprintf(cell, sizeof cell, "%s%zu:%.2f%%", d ? " " : "", d, 100.0 * double(h[d]) / double(std::max<std::size_t>(total, 1)));
    out << cell;
  }
  return out.str();
}

// What the set looks like, for about.txt: `centres` are the per-label centres (label i's centre
// is row i), or empty for labels that name no centre.
std::string describe_codes(const BitCodes& database, const std::vector<int>& labels, const BitCodes& centres,
                           const BitCodes& queries) {
  const int bits = database.bits(), words = database.words_per_code();
  std::ostringstream out;
  out << "database codes: " << database.size() << ", " << bits << " bits; queries: " << queries.size() << "\n";
  if (centres.size() > 0) {
    std::vector<std::size_t> own(std::size_t(bits) + 1), nearest(std::size_t(bits) + 1);
    for (std::size_t i = 0; i < database.size(); ++i)
      if (labels[i] >= 0) ++own[std::size_t(distance(database.code(i), centres.code(std::size_t(labels[i])), words))];
    const std::size_t sample = std::min<std::size_t>(database.size(), 10000), step = database.size() / sample;
    for (std::size_t s = 0; s < sample; ++s) {
      int best = bits;
      for (std::size_t c = 0; c < centres.size(); ++c) best = std::min(best, distance(database.code(s * step), centres.code(c), words));
      ++nearest[std::size_t(best)];
    }
    out << "distance to own centre (all codes): " << histogram_line(own) << "\n";
    out << "distance to nearest of the " << centres.size() << " centres (" << sample << " codes, evenly spaced): " << histogram_line(nearest)
        << "\n";
  }
  // Exact duplicates: codes equal to an earlier code (a hash of the words; exact up to 64 bits).
  {
    std::vector<std::uint64_t> keys(database.size());
    for (std::size_t i = 0; i < database.size(); ++i) {
      std::uint64_t h = 0;
      for (int j = 0; j < words; ++j) h = h * 0x9E3779B97F4A7C15ull ^ database.code(i)[j];
      keys[i] = words == 1 ? database.code(i)[0] : h;
    }
    std::sort(keys.begin(), keys.end());
    const std::size_t distinct = std::size_t(std::unique(keys.begin(), keys.end()) - keys.begin());
    char line[160];
    std::snprintf(line, sizeof line, "distinct codes: %zu; duplicates (a code equal to another one before it): %.2f%%\n", distinct,
                  100.0 * double(database.size() - distinct) / double(database.size()));
    out << line;
  }
  {
    HammingIndex index(bits);
    index.add(database);
    const KnnResult r = index.search(queries, 1);
    std::vector<std::size_t> h(std::size_t(bits) + 1);
    for (std::size_t q = 0; q < queries.size(); ++q) ++h[std::size_t(r.distances[q])];
    out << "query distance to its nearest database code: " << histogram_line(h) << "\n";
  }
  return out.str();
}

// save_encoded_set, a chunk at a time: EncodedSetWriter copies what is left after each chunk it
// writes, so that handing it 10^7 codes at once costs time quadratic in their number.
void save_set(const EncodedSet& s, const fs::path& path) {
  EncodedSetWriter writer(path.string(), s, s.codes.size(), 0);
  for (std::size_t first = 0; first < s.codes.size(); first += detail::kEncodedSetChunkItems)
    writer.append(s.codes.slice(first, std::min(s.codes.size(), first + detail::kEncodedSetChunkItems)), RowMatrixXf());
  writer.commit();
}

void finish_set(const fs::path& folder, std::size_t parts, const std::string& about) {
  std::ofstream(folder / "about.txt") << about;
  std::ofstream(folder / "complete") << parts << "\n";
  std::printf("%s", about.c_str());
  std::printf("written: %s (%zu database parts)\n", folder.string().c_str(), parts);
}

void write_synthetic(const fs::path& folder, const bench::SyntheticSpec& spec) {
  constexpr std::size_t kPart = 10'000'000;
  const BitCodes centres = bench::synthetic_centres(spec);
  EncodedSet header;
  header.source = "synthetic: " + std::to_string(spec.centres) + " uniform random centres (0: uniform codes), each bit flipped with p " +
                  std::to_string(spec.flip) + ", seed " + std::to_string(spec.seed);
  const std::size_t parts = (spec.n + kPart - 1) / kPart;
  for (std::size_t p = 0; p < parts; ++p) {
    const fs::path path = folder / bench::part_name(p);
    if (fs::exists(path)) continue;
    const auto start = std::chrono::steady_clock::now();
    const std::size_t first = p * kPart, count = std::min(kPart, spec.n - first);
    header.role = "database";
    bench::synthetic_codes(spec, centres, 0, first, count, header.codes, header.labels);
    save_set(header, path);
    std::printf("part %zu/%zu: %zu codes in %.1f s\n", p + 1, parts, count,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::fflush(stdout);
  }
  header.role = "queries";
  bench::synthetic_codes(spec, centres, 1, 0, spec.queries, header.codes, header.labels);
  save_set(header, folder / "queries.dhc");
  const bench::CodeSet set = bench::load_code_set_parts(folder, parts);
  std::ostringstream about;
  about << "set: " << spec.name() << "\n" << header.source << "\n"
        << "database: " << spec.n << " codes (stream 0); queries: " << spec.queries
        << " codes drawn the same way from the same centres (stream 1), not taken from the database\n";
  about << describe_codes(set.database.codes, set.database.labels, spec.centres ? centres : BitCodes(0, spec.bits), set.queries.codes);
  finish_set(folder, parts, about.str());
}

// ---- real codes ----

// One random augmentation of an HWC 8-bit image into `out` (same size): see the header.
void augment(ImageView in, std::mt19937_64& rng, std::uint8_t* out) {
  std::uniform_real_distribution<double> u(0, 1);
  const bool flip = u(rng) < 0.5;
  const double side = 0.8 + 0.2 * u(rng);
  const double angle = (u(rng) * 30 - 15) * M_PI / 180;
  const int h = in.height, w = in.width, ch = in.channels;
  // Centre of the crop in the source, anywhere the (unrotated) crop fits.
  const double cx = w / 2.0 + (u(rng) - 0.5) * (1 - side) * w, cy = h / 2.0 + (u(rng) - 0.5) * (1 - side) * h;
  const double brightness = u(rng) * 50 - 25, contrast = 0.75 + 0.5 * u(rng), sigma = 8 * u(rng);
  std::normal_distribution<double> noise(0, 1);
  double mean = 0;
  for (std::size_t i = 0; i < in.bytes(); ++i) mean += in.pixels[i];
  mean /= double(in.bytes());
  const double c = std::cos(angle) * side, s = std::sin(angle) * side;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double ox = (flip ? w - 1 - x : x) + 0.5 - w / 2.0, oy = y + 0.5 - h / 2.0;
      const double sx = std::clamp(cx + c * ox - s * oy - 0.5, 0.0, w - 1.0), sy = std::clamp(cy + s * ox + c * oy - 0.5, 0.0, h - 1.0);
      const int x0 = int(sx), y0 = int(sy), x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
      const double fx = sx - x0, fy = sy - y0;
      for (int k = 0; k < ch; ++k) {
        const auto at = [&](int yy, int xx) { return double(in.pixels[(std::size_t(yy) * w + xx) * ch + k]); };
        double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        v = (v - mean) * contrast + mean + brightness + sigma * noise(rng);
        out[(std::size_t(y) * w + x) * ch + k] = std::uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
    }
}

struct Images {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  std::vector<int> labels;
  ImageBatchView view() const { return {height, width, channels, pixels.data(), labels.size()}; }
};

Images decode_all(const ImageSource& source, const DecodeOptions& options) {
  std::vector<std::size_t> order(source.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  BatchStream stream(source, std::move(order), 512, options);
  Images all;
  DecodedBatch batch;
  while (stream.next(batch)) {
    all.height = batch.height, all.width = batch.width, all.channels = batch.channels;
    all.pixels.insert(all.pixels.end(), batch.pixels.begin(), batch.pixels.end());
    all.labels.insert(all.labels.end(), batch.labels.begin(), batch.labels.end());
  }
  return all;
}

// Encodes `images` (augmented with stream `round` unless round is 0) into an encoded-set file.
void encode_round(Frontend& frontend, const Images& images, std::uint64_t seed, std::size_t round, EncodedSet header, const fs::path& path) {
  constexpr std::size_t kBatch = 256;
  header.codes = BitCodes(0, frontend.code_bits());
  header.labels = images.labels;
  EncodedSetWriter writer(path.string(), header, images.labels.size(), 0);
  const ImageBatchView all = images.view();
  std::vector<std::uint8_t> augmented(kBatch * all.image_bytes());
  RowMatrixXf activations;
  for (std::size_t first = 0; first < all.count; first += kBatch) {
    const std::size_t n = std::min(kBatch, all.count - first);
    ImageBatchView batch = all.slice(first, first + n);
    if (round > 0) {
      for (std::size_t i = 0; i < n; ++i) {
        std::seed_seq seq{seed, std::uint64_t(round), std::uint64_t(first + i)};
        std::mt19937_64 rng(seq);
        augment(all[first + i], rng, augmented.data() + i * all.image_bytes());
      }
      batch.pixels = augmented.data();
    }
    activations.resize(Eigen::Index(n), frontend.code_bits());
    frontend.encode(batch, activations.data(), nullptr);
    writer.append(binarize(activations), RowMatrixXf());
  }
  writer.commit();
}

// Per-class centres: the majority of each bit over the class's codes.
BitCodes class_centres(const BitCodes& codes, const std::vector<int>& labels, int classes) {
  const int bits = codes.bits();
  std::vector<std::size_t> ones(std::size_t(classes) * std::size_t(bits)), count(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < codes.size(); ++i) {
    ++count[std::size_t(labels[i])];
    for (int b = 0; b < bits; ++b) ones[std::size_t(labels[i]) * bits + b] += codes.bit(i, b);
  }
  BitCodes centres(std::size_t(classes), bits);
  for (int c = 0; c < classes; ++c)
    for (int b = 0; b < bits; ++b) centres.set_bit(std::size_t(c), b, 2 * ones[std::size_t(c) * bits + b] > count[std::size_t(c)]);
  return centres;
}

void write_real(const fs::path& folder, const std::string& model_name, std::size_t rounds, std::size_t queries) {
  const bool cifar = model_name.rfind("cifar10-", 0) == 0;
  const std::string model_path = std::string(DEEPHASH_SOURCE_DIR "/examples/models/") + model_name + "/model.dhm";
  const std::string dataset = cifar ? "archive:" DEEPHASH_SOURCE_DIR "/../shared/datasets/cifar10-train-jpg.tar.gz" : "fashion-mnist";
  const HashingModel model = load_model(model_path);
  auto frontend = model.make_frontend(default_num_threads());
  const RetrievalSets sets = open_retrieval_sets(dataset, HoldOutRule{});
  std::printf("decoding %s: %zu database images, %zu query candidates\n", dataset.c_str(), sets.database->size(), sets.queries->size());
  std::fflush(stdout);
  const Images database = decode_all(*sets.database, frontend->decode_options());
  if (rounds == 0) rounds = (1'000'000 + database.labels.size() - 1) / database.labels.size();
  std::vector<std::size_t> picked;
  const std::size_t step = std::max<std::size_t>(1, sets.queries->size() / queries);
  for (std::size_t i = 0; i < sets.queries->size() && picked.size() < queries; i += step) picked.push_back(i);
  const Images query_images = decode_all(*deephash::detail::subset(sets.queries, picked, "benchmark queries"), frontend->decode_options());
  constexpr std::uint64_t kSeed = 28;
  EncodedSet header;
  header.class_names = model.class_names;
  header.source = model_name + " codes of " + sets.database_spec + " (" + sets.holdout + "), round r: r = 0 as stored, else augmented (seed " +
                  std::to_string(kSeed) + ")";
  header.role = "database";
  for (std::size_t r = 0; r < rounds; ++r) {
    const fs::path path = folder / bench::part_name(r);
    if (fs::exists(path)) continue;
    const auto start = std::chrono::steady_clock::now();
    encode_round(*frontend, database, kSeed, r, header, path);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("round %zu/%zu: %zu images in %.1f s (%.0f images/s)\n", r + 1, rounds, database.labels.size(), seconds,
                double(database.labels.size()) / seconds);
    std::fflush(stdout);
  }
  // Queries: the images as they are, then each augmented (stream 1000 + round, apart from the
  // database's rounds).
  header.role = "queries";
  const fs::path plain = folder / "queries-plain.tmp.dhc", augmented = folder / "queries-augmented.tmp.dhc";
  encode_round(*frontend, query_images, kSeed, 0, header, plain);
  encode_round(*frontend, query_images, kSeed + 1, 1000, header, augmented);
  EncodedSet q = load_encoded_set(plain.string());
  append_encoded_set(q, load_encoded_set(augmented.string()), augmented.string());
  save_set(q, folder / "queries.dhc");
  fs::remove(plain);
  fs::remove(augmented);
  const bench::CodeSet set = bench::load_code_set_parts(folder, rounds);
  std::ostringstream about;
  about << "set: " << folder.filename().string() << "\nmodel: " << model_path << "\n" << header.source << "\n"
        << "database: " << database.labels.size() << " images x " << rounds << " rounds; queries: " << query_images.labels.size()
        << " images never in the database (" << sets.queries_spec << ", evenly spaced), as they are then augmented\n";
  about << describe_codes(set.database.codes, set.database.labels,
                          class_centres(set.database.codes, set.database.labels, int(model.class_names.size())), set.queries.codes);
  finish_set(folder, rounds, about.str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string name, cache;
  std::size_t rounds = 0, queries = 1000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(a, "needs a value");
      return argv[++i];
    };
    try {
      if (a == "--set") name = value();
      else if (a == "--cache") cache = value();
      else if (a == "--queries") queries = std::stoul(value());
      else throw Error(a, "unknown option (--set NAME [--cache DIR] [--queries N])");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
  }
  if (name.empty()) {
    std::fprintf(stderr, "usage: %s --set NAME [--cache DIR] [--queries N]  (see the header of bench/write_code_sets.cpp)\n", argv[0]);
    return 2;
  }
  try {
    const fs::path folder = fs::path(bench::cache_dir(cache)) / name;
    if (fs::exists(folder / "complete")) {
      std::printf("%s is already written\n", folder.string().c_str());
      return 0;
    }
    fs::create_directories(folder);
    if (name.rfind("synthetic-", 0) == 0) {
      bench::SyntheticSpec spec = bench::parse_synthetic_name(name);
      spec.queries = queries;
      write_synthetic(folder, spec);
    } else if (const std::size_t aug = name.rfind("-aug"); aug != std::string::npos && aug > 0 &&
               name.find_first_not_of("0123456789", aug + 4) == std::string::npos) {
      // <model>-aug<R>: R rounds (a smaller set, e.g. for a quick run); <model>-aug: enough for 10^6.
      if (aug + 4 < name.size()) rounds = std::stoul(name.substr(aug + 4));
      if (aug + 4 < name.size() && rounds == 0) throw Error(name, "needs at least one round");
      write_real(folder, name.substr(0, aug), rounds, queries);
    } else {
      throw Error(name, "is neither a synthetic set name (synthetic-c<centres>-p<flip>-n<count>-b<bits>) nor <shipped model>-aug");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
