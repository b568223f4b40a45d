// The deephash command as a user runs it: train, encode, index, search (with rerank and a
// picture), eval, snapshots, and clear errors — on a tiny dataset in Fashion-MNIST's layout.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include <deephash/data/idx.hpp>
#include <deephash/data/image_decode.hpp>
#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/io/container/model_file.hpp>

#include "support.hpp"

using namespace deephash;
using test::TempDir;

namespace {

struct Run {
  int status;
  std::string output;
};

Run run(const std::string& arguments) {
  const std::string command = std::string(DEEPHASH_CLI) + " " + arguments + " 2>&1";
  Run r{0, ""};
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void write_idx(const std::string& path, std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& values) {
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[] = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (std::uint32_t d : dims) {
    const unsigned char be[] = {static_cast<unsigned char>(d >> 24), static_cast<unsigned char>(d >> 16),
                                static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(values.data()), std::streamsize(values.size()));
}

// Ten classes, each a bright bar at its own row, with noise: learnable in a few steps.
void write_split(const std::string& dir, const std::string& prefix, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> images, labels;
  for (std::size_t i = 0; i < n; ++i) {
    const int label = int(i % 10);
    labels.push_back(std::uint8_t(label));
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x)
        images.push_back(std::uint8_t((y / 3 == label ? 200 : 20) + rng() % 40));
  }
  write_idx(dir + "/" + prefix + "-images-idx3-ubyte", {std::uint32_t(n), 28, 28}, images);
  write_idx(dir + "/" + prefix + "-labels-idx1-ubyte", {std::uint32_t(n)}, labels);
}

}  // namespace

TEST_CASE("train, encode, index, search, eval and resume from the command line") {
  TempDir dir;
  write_split(dir.path.string(), "train", 400, 1);
  write_split(dir.path.string(), "t10k", 50, 2);
  const std::string data = "--dataset fashion-mnist:" + dir.path.string();

  // 30 iterations (1.5 epochs of 400 images in batches of 20), a snapshot kept every 10.
  Run r = run("train " + data + " --out " + dir.file("m.dhm") + " --bits 16 --epochs 1.5 --batch 20 --lr 0.05 --threads 2" +
              " --snapshot '" + dir.file("s-{iter}.snap") + "' --snapshot-every 10");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("wrote") != std::string::npos);
  CHECK(std::ifstream(dir.file("m.dhm.curves.svg")).good());
  for (const char* kept : {"s-10.snap", "s-20.snap", "s-30.snap"}) CHECK(std::ifstream(dir.file(kept)).good());
  CHECK_FALSE(std::ifstream(dir.file("s-{iter}.snap")).good());

  r = run("encode --model " + dir.file("m.dhm") + " " + data + " --out " + dir.file("db.dhc") + " --features");
  REQUIRE(r.status == 0);
  const EncodedSet db = load_encoded_set(dir.file("db.dhc"));
  CHECK(db.codes.size() == 400);
  CHECK(db.codes.bits() == 16);
  CHECK(db.features.cols() == 256);

  r = run("index --codes " + dir.file("db.dhc") + " --out " + dir.file("db.dhx"));
  REQUIRE(r.status == 0);
  CHECK(load_index(dir.file("db.dhx")).size() == 400);

  r = run("search --model " + dir.file("m.dhm") + " --database " + dir.file("db.dhc") + " --index " + dir.file("db.dhx") +
          " --query 3 " + data + " --k 5 --rerank 40 --grid " + dir.file("grid.png"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("query: fashion-mnist query 3") != std::string::npos);
  CHECK(r.output.find("euclidean") != std::string::npos);
  CHECK(read_image(dir.file("grid.png")).width > 5 * 72);

  r = run("eval " + data + " --model " + dir.file("m.dhm") + " --baselines 16 --out " + dir.file("out"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  std::ifstream json(dir.file("out/results.json"));
  const std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  for (const char* field : {"\"method\": \"deephash (ours)\"", "\"method\": \"ITQ\"", "\"map_at_1000\"", "\"precision_at_k\"",
                            "\"train_seconds\"", "\"eval_seconds\"", "\"bits\": 16"})
    CHECK(text.find(field) != std::string::npos);
  CHECK(std::ifstream(dir.file("out/precision_at_k_16bits.svg")).good());
  CHECK(std::ifstream(dir.file("out/retrieval_examples.png")).good());

  // Resumed from the snapshot taken a third of the way, with the same thread count, training ends
  // with exactly the weights of the uninterrupted run.
  r = run("train " + data + " --out " + dir.file("resumed.dhm") + " --threads 2 --resume " + dir.file("s-10.snap"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  const HashingModel whole = load_model(dir.file("m.dhm")), resumed = load_model(dir.file("resumed.dhm"));
  REQUIRE(resumed.weights.size() == whole.weights.size());
  REQUIRE_FALSE(whole.weights.empty());
  for (std::size_t l = 0; l < whole.weights.size(); ++l) {
    INFO("layer " << whole.weights[l].layer);
    CHECK(resumed.weights[l].layer == whole.weights[l].layer);
    REQUIRE(resumed.weights[l].blobs.size() == whole.weights[l].blobs.size());
    for (std::size_t b = 0; b < whole.weights[l].blobs.size(); ++b) {
      CHECK(resumed.weights[l].blobs[b].shape == whole.weights[l].blobs[b].shape);
      CHECK(resumed.weights[l].blobs[b].data == whole.weights[l].blobs[b].data);
    }
  }
}

TEST_CASE("the command explains bad input and fails without writing anything") {
  TempDir dir;
  Run r = run("search --model " + dir.file("missing.dhm") + " --database x --image y");
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.file("missing.dhm") + ": cannot open file") != std::string::npos);
  r = run("train --dataset fashion-mnist:" + dir.path.string() + " --out " + dir.file("m.dhm"));
  CHECK(r.status == 1);
  CHECK(r.output.find("train-images-idx3-ubyte") != std::string::npos);
  CHECK_FALSE(std::ifstream(dir.file("m.dhm")).good());
  r = run("eval --dataset fashion-mnist --model m.dhm --bogus 3");
  CHECK(r.status == 1);
  CHECK(r.output.find("unknown option --bogus") != std::string::npos);
  r = run("frobnicate");
  CHECK(r.status == 2);
  for (const char* command : {"demo", "train", "encode", "index", "search", "eval", "baselines"}) {
    r = run(std::string(command) + " --help");
    CHECK(r.status == 0);
    CHECK(r.output.find("usage: deephash") != std::string::npos);
  }
}
