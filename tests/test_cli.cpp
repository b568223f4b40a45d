// The deephash command as a user runs it: train, encode, index, search (with rerank and a
// picture), eval, snapshots, and clear errors — on a tiny dataset in Fashion-MNIST's layout.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>

#include <deephash/data/idx.hpp>
#include <deephash/data/image_decode.hpp>
#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/io/faiss/binary_index_file.hpp>

#include "cli_support.hpp"
#include "support.hpp"

using namespace deephash;
using test::Run;
using test::TempDir;
using test::write_split;

namespace {

Run run(const std::string& arguments) { return test::run_command(std::string(DEEPHASH_CLI) + " " + arguments); }

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
  CHECK(load_index(dir.file("db.dhx"))->size() == 400);
  r = run("index --verify " + dir.file("db.dhx"));
  REQUIRE(r.status == 0);
  CHECK(r.output.find(": ok, flat index (file version 3, mappable layout), 400 codes of 16 bits") != std::string::npos);
  {
    std::vector<std::uint8_t> bytes = read_file_bytes(dir.file("db.dhx"));
    bytes[kIndexPageBytes + 10] ^= 1;  // a code
    write_file_atomically(dir.file("damaged.dhx"), bytes);
    r = run("index --verify " + dir.file("damaged.dhx"));
    CHECK(r.status == 1);
    CHECK(r.output.find(dir.file("damaged.dhx") + ": checksum mismatch in chunk 0 of the codes") != std::string::npos);
  }

  // FAISS's format (IndexBinaryIDMap2), ids from a file; a damaged ids file is named with its line.
  {
    std::ofstream ids(dir.file("ids.txt"));
    for (int i = 0; i < 400; ++i) ids << (i == 7 ? "  " : "") << 1000 + 3 * i << "\n";
  }
  r = run("index --codes " + dir.file("db.dhc") + " --out " + dir.file("db.faiss") + " --ids " + dir.file("ids.txt"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  const FaissBinaryIndex faiss = read_faiss_binary_index(dir.file("db.faiss"));
  CHECK(faiss.kind == FaissBinaryKind::IDMap2);
  CHECK(faiss.codes == db.codes);
  REQUIRE(faiss.ids.size() == 400);
  CHECK(faiss.ids[7] == 1021);
  {
    std::ofstream ids(dir.file("bad-ids.txt"));
    ids << "5\n6\nseven\n";
  }
  r = run("index --codes " + dir.file("db.dhc") + " --out " + dir.file("bad.faiss") + " --ids " + dir.file("bad-ids.txt"));
  CHECK(r.status != 0);
  CHECK(r.output.find("bad-ids.txt: line 3: 'seven'") != std::string::npos);
  CHECK_FALSE(std::ifstream(dir.file("bad.faiss")).good());

  r = run("search --model " + dir.file("m.dhm") + " --codes " + dir.file("db.dhc") + " --index " + dir.file("db.dhx") +
          " --query 3 " + data + " --k 5 --rerank 40 --grid " + dir.file("grid.png"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("query: " + dir.file("t10k-images-idx3-ubyte#3")) != std::string::npos);
  CHECK(r.output.find(dir.file("train-images-idx3-ubyte#")) != std::string::npos);  // results say where they are
  CHECK(r.output.find("euclidean") != std::string::npos);
  CHECK(read_image(dir.file("grid.png")).width > 5 * 72);

  // Multi-index hashing with ids of its own: the same ranking, each result found by its id.
  r = run("index --codes " + dir.file("db.dhc") + " --out " + dir.file("mih.dhx") + " --kind mih --tables 2 --ids " + dir.file("ids.txt"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("mih index, 400 codes of 16 bits, 2 tables") != std::string::npos);
  CHECK(load_index(dir.file("mih.dhx"))->kind() == "mih");
  const std::string flat_search = run("search --model " + dir.file("m.dhm") + " --codes " + dir.file("db.dhc") + " --query 3 " + data + " --k 8").output;
  r = run("search --model " + dir.file("m.dhm") + " --codes " + dir.file("db.dhc") + " --index " + dir.file("mih.dhx") +
          " --ids " + dir.file("ids.txt") + " --query 3 " + data + " --k 8");
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto images_listed = [](const std::string& out) {  // the image column, in rank order
    std::vector<std::string> images;
    for (std::size_t at = out.find("train-images-idx3-ubyte#"); at != std::string::npos; at = out.find("train-images-idx3-ubyte#", at + 1))
      images.push_back(out.substr(at, out.find('\n', at) - at));
    return images;
  };
  CHECK(images_listed(r.output).size() == 8);
  CHECK(images_listed(r.output) == images_listed(flat_search));  // ids 1000 + 3 row keep the row order
  r = run("search --model " + dir.file("m.dhm") + " --codes " + dir.file("db.dhc") + " --index " + dir.file("mih.dhx") + " --query 3 " + data);
  CHECK(r.status != 0);
  CHECK(r.output.find("give the ids file it was built with") != std::string::npos);

  r = run("eval " + data + " --model " + dir.file("m.dhm") + " --baselines 16 --out " + dir.file("out"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  std::ifstream json(dir.file("out/results.json"));
  const std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  for (const char* field : {"\"method\": \"deephash (ours)\"", "\"method\": \"ITQ\"", "\"map_at_1000\"", "\"precision_at_k\"",
                            "\"train_seconds\"", "\"eval_seconds\"", "\"bits\": 16"})
    CHECK(text.find(field) != std::string::npos);
  // The model's scores are those of its codes, ranked and scored here by hand: the database as
  // encoded above, the queries encoded the same way (eval encodes both in batches of 64, as encode does).
  REQUIRE(run("encode --model " + dir.file("m.dhm") + " " + data + " --role queries --out " + dir.file("q.dhc")).status == 0);
  {
    const EncodedSet queries = load_encoded_set(dir.file("q.dhc"));
    REQUIRE(queries.codes.size() == 50);
    const std::string ours = text.substr(text.find("\"method\": \"deephash (ours)\""));
    const std::string record = ours.substr(0, ours.find("\"train_seconds\""));
    auto number_after = [&](const std::string& key) {
      const auto at = record.find(key);
      REQUIRE(at != std::string::npos);
      return std::stod(record.substr(at + key.size()));
    };
    std::vector<std::size_t> ks;  // the k of each precision@k reported: {"1": p, "10": p, ...}
    const std::size_t open = record.find('{', record.find("\"precision_at_k\""));
    std::istringstream entries(record.substr(open + 1, record.find('}', open) - open - 1));
    for (std::string entry; std::getline(entries, entry, ',');) ks.push_back(std::size_t(std::stoul(entry.substr(entry.find('"') + 1))));
    REQUIRE_FALSE(ks.empty());
    double map = 0;
    std::vector<double> precision(ks.size(), 0.0);
    const std::size_t n = db.codes.size(), words = std::size_t(db.codes.words_per_code());
    for (std::size_t q = 0; q < queries.codes.size(); ++q) {
      std::vector<std::pair<int, std::size_t>> ranked;  // (Hamming distance, database row): ties in database order
      for (std::size_t i = 0; i < n; ++i) {
        int d = 0;
        for (std::size_t w = 0; w < words; ++w)
          d += __builtin_popcountll(db.codes.data()[i * words + w] ^ queries.codes.data()[q * words + w]);
        ranked.emplace_back(d, i);
      }
      std::sort(ranked.begin(), ranked.end());
      double sum = 0;
      std::size_t hits = 0;
      for (std::size_t r = 0; r < std::min<std::size_t>(1000, n); ++r) {
        const bool relevant = db.labels[ranked[r].second] == queries.labels[q];
        if (relevant) sum += double(++hits) / double(r + 1);
        for (std::size_t j = 0; j < ks.size(); ++j)
          if (r < ks[j] && relevant) precision[j] += 1.0 / double(ks[j]);
      }
      map += hits ? sum / double(hits) : 0.0;  // AP over the relevant items retrieved
    }
    map /= double(queries.codes.size());
    // results.json keeps 6 significant digits.
    CHECK(number_after("\"map_at_1000\": ") == doctest::Approx(map).epsilon(1e-6));
    for (std::size_t j = 0; j < ks.size(); ++j) {
      INFO("precision@" << ks[j]);
      CHECK(number_after("\"" + std::to_string(ks[j]) + "\": ") == doctest::Approx(precision[j] / double(queries.codes.size())).epsilon(1e-6));
    }
  }
  CHECK(std::ifstream(dir.file("out/precision_at_k_16bits.svg")).good());
  CHECK(std::ifstream(dir.file("out/retrieval_examples.png")).good());

  // Resumed from the snapshot taken a third of the way, with the same thread count, training ends
  // with exactly the weights of the uninterrupted run. The snapshot holds the first stage's
  // network (the preset's network_bits latent units): the second stage's length is asked for again.
  r = run("train " + data + " --out " + dir.file("resumed.dhm") + " --threads 2 --bits 16 --resume " + dir.file("s-10.snap"));
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

// dir/<set>/<class>/<k>.png: 12x12 colour images, a class a colour plus noise.
void write_class_tree(const std::string& root, int per_class, std::uint64_t seed) {
  const char* classes[] = {"blue", "green", "red"};
  std::mt19937_64 rng(seed);
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < per_class; ++k) {
      Image im{12, 12, 3, std::vector<std::uint8_t>(12 * 12 * 3)};
      for (std::size_t p = 0; p < im.pixels.size(); ++p) im.pixels[p] = std::uint8_t(int(p % 3) == 2 - c ? 200 + rng() % 50 : rng() % 90);
      std::filesystem::create_directories(root + "/" + classes[c]);
      write_png(root + "/" + classes[c] + "/" + std::to_string(100 + k) + ".png", im);
    }
}

std::string flags(const std::string& text) { return " " + text + " "; }

TEST_CASE("database and queries apart, one hold-out rule, grids drawn from an archive's members") {
  TempDir dir;
  write_class_tree(dir.file("photos/train"), 20, 1);
  write_class_tree(dir.file("photos/test"), 4, 2);
  REQUIRE(std::system(("cd " + dir.file("photos") + " && tar --sort=name -czf ../photos.tar.gz train test").c_str()) == 0);
  const std::string archive = "archive:" + dir.file("photos.tar.gz");
  const std::string model = dir.file("m.dhm");
  const std::string small = flags("--bits 8 --epochs 1 --batch 10 --lr 0.01 --threads 2");

  // train/ and test/ of one archive: the database and the queries as they are.
  Run r = run("train --dataset " + archive + small + "--out " + model);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("60 database images, 12 queries") != std::string::npos);
  REQUIRE(run("encode --model " + model + " --dataset " + archive + " --out " + dir.file("db.dhc")).status == 0);
  REQUIRE(run("encode --model " + model + " --dataset " + archive + " --role queries --out " + dir.file("q.dhc")).status == 0);
  const EncodedSet db = load_encoded_set(dir.file("db.dhc")), q = load_encoded_set(dir.file("q.dhc"));
  CHECK(db.codes.size() == 60);
  CHECK(q.codes.size() == 12);
  CHECK(db.source == archive + "@train");
  CHECK(q.source == archive + "@test");
  CHECK(db.paths.front() == dir.file("photos.tar.gz") + ":train/blue/100.png");

  // Encoded sets are evaluated as they are, and give what encoding the images again gives.
  r = run("eval --codes " + dir.file("db.dhc") + " --query-codes " + dir.file("q.dhc") + " --out " + dir.file("coded"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = run("eval --database " + archive + "@train --queries " + archive + "@test --model " + model + " --baselines none --out " +
          dir.file("imaged"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto map_of = [&](const std::string& json_path) {
    std::ifstream json(json_path);
    const std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
    const auto at = text.find("\"map_at_1000\": ");
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + 15));
  };
  CHECK(map_of(dir.file("coded/results.json")) == map_of(dir.file("imaged/results.json")));

  // A query from the encoded queries, its grid drawn from the archive's members (no --dataset).
  r = run("search --model " + model + " --codes " + dir.file("db.dhc") + " --query-codes " + dir.file("q.dhc") +
          " --query 5 --k 4 --grid " + dir.file("grid.png"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("query: " + dir.file("photos.tar.gz") + ":test/green/") != std::string::npos);
  CHECK(read_image(dir.file("grid.png")).width > 4 * 72);
  // A photo as the query.
  r = run("search --model " + model + " --codes " + dir.file("db.dhc") + " --image " + dir.file("photos/test/red/101.png") + " --k 3");
  INFO(r.output);
  REQUIRE(r.status == 0);
  // A --k beyond the database shows the whole database, as a --k of its size does (it tried to
  // allocate room for 10^12 results).
  const std::string photo_query = "search --model " + model + " --codes " + dir.file("db.dhc") + " --image " + dir.file("photos/test/red/101.png");
  const Run everything = run(photo_query + " --k 1000000000000");
  INFO(everything.output);
  REQUIRE(everything.status == 0);
  CHECK(everything.output == run(photo_query + " --k " + std::to_string(load_encoded_set(dir.file("db.dhc")).codes.size())).output);

  // A folder with a file that is no image and a PNG cut short: the error names both (not only the
  // first); --skip-unreadable encodes the rest, lists both and records how many were left out.
  write_class_tree(dir.file("mixed"), 3, 5);
  std::ofstream(dir.file("mixed/blue/readme.txt")) << "photos of the sky\n";
  {
    std::vector<std::uint8_t> png = read_file_bytes(dir.file("mixed/red/101.png"));
    png.resize(png.size() / 2);
    write_file_atomically(dir.file("mixed/red/101.png"), png);
  }
  const std::string mixed = "encode --model " + model + " --images folder:" + dir.file("mixed") + " --out " + dir.file("mixed.dhc");
  r = run(mixed);
  CHECK(r.status == 1);
  CHECK(r.output.find("folder:" + dir.file("mixed") + ": 2 unreadable images:") != std::string::npos);
  CHECK(r.output.find("\n  " + dir.file("mixed/blue/readme.txt") + ": ") != std::string::npos);
  CHECK(r.output.find("\n  " + dir.file("mixed/red/101.png") + ": ") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("mixed.dhc")));
  r = run(mixed + " --skip-unreadable");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("wrote " + dir.file("mixed.dhc") + ": 8 8-bit codes") != std::string::npos);
  CHECK(r.output.find("skipped 2 unreadable images:\n  " + dir.file("mixed/blue/readme.txt") + ": ") != std::string::npos);
  CHECK(r.output.find("\n  " + dir.file("mixed/red/101.png") + ": ") != std::string::npos);
  {
    const EncodedSet kept = load_encoded_set(dir.file("mixed.dhc"));
    CHECK(kept.codes.size() == 8);  // 3 classes of 3 images, one of them cut short
    CHECK(kept.labels.size() == 8);
    CHECK(kept.skipped == 2);
    CHECK(std::count(kept.paths.begin(), kept.paths.end(), dir.file("mixed/blue/readme.txt")) == 0);
    CHECK(std::count(kept.paths.begin(), kept.paths.end(), dir.file("mixed/red/101.png")) == 0);
    CHECK(kept.paths.back() == dir.file("mixed/red/102.png"));
    CHECK(kept.labels.back() == 2);
  }

  // One set: queries held out by the shared rule, never trained on and not in the database.
  const std::string one = "folder:" + dir.file("photos/train");
  r = run("train --dataset " + one + " --queries-per-class 3" + small + "--out " + dir.file("one.dhm"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("51 database images, 9 queries") != std::string::npos);
  CHECK(r.output.find("training on 51 images") != std::string::npos);
  REQUIRE(run("encode --model " + dir.file("one.dhm") + " --dataset " + one + " --queries-per-class 3 --out " + dir.file("one_db.dhc")).status == 0);
  REQUIRE(run("encode --model " + dir.file("one.dhm") + " --dataset " + one + " --queries-per-class 3 --role queries --out " +
              dir.file("one_q.dhc")).status == 0);
  const EncodedSet one_db = load_encoded_set(dir.file("one_db.dhc")), one_q = load_encoded_set(dir.file("one_q.dhc"));
  CHECK(one_db.holdout == one_q.holdout);
  CHECK(one_db.holdout.find("3 queries") != std::string::npos);
  for (const std::string& p : one_q.paths) CHECK(std::find(one_db.paths.begin(), one_db.paths.end(), p) == one_db.paths.end());
  // The queries are the rule's: at the evenly spaced positions of each class (20 items, 3
  // queries: floor((j + 1/2) * 20 / 3) = 3, 10, 16).
  CHECK(one_q.paths[0] == dir.file("photos/train/blue/103.png"));
  CHECK(one_q.paths[1] == dir.file("photos/train/blue/110.png"));
  CHECK(one_q.paths[2] == dir.file("photos/train/blue/116.png"));
  // search with --dataset checks that the database codes were chosen by the same rule.
  r = run("search --model " + dir.file("one.dhm") + " --codes " + dir.file("one_db.dhc") + " --dataset " + one + " --query 0");
  CHECK(r.status == 1);
  CHECK(r.output.find("not the database of " + one) != std::string::npos);
  r = run("search --model " + dir.file("one.dhm") + " --codes " + dir.file("one_db.dhc") + " --dataset " + one +
          " --queries-per-class 3 --query 0 --k 3");
  INFO(r.output);
  CHECK(r.status == 0);
  // Sets held out by different rules do not meet.
  REQUIRE(run("encode --model " + dir.file("one.dhm") + " --dataset " + one + " --queries-per-class 2 --role queries --out " +
              dir.file("other_q.dhc")).status == 0);
  r = run("eval --codes " + dir.file("one_db.dhc") + " --query-codes " + dir.file("other_q.dhc"));
  CHECK(r.status == 1);
  CHECK(r.output.find("different rules") != std::string::npos);

  // Sets record the model that made them; sets of two models of one length do not meet, nor does
  // a model search another's codes.
  CHECK(db.model == model_digest(load_model(model)));
  CHECK(one_db.model == model_digest(load_model(dir.file("one.dhm"))));
  REQUIRE(db.model != one_db.model);
  r = run("eval --codes " + dir.file("db.dhc") + " --query-codes " + dir.file("one_q.dhc"));
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.file("db.dhc") + " and " + dir.file("one_q.dhc") + ": were encoded by different models (model digests " +
                      db.model + " and " + one_db.model + ")") != std::string::npos);
  r = run("search --model " + dir.file("one.dhm") + " --codes " + dir.file("db.dhc") + " --image " + dir.file("photos/test/red/101.png"));
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.file("db.dhc") + " and " + dir.file("one.dhm") + ": were made by different models") != std::string::npos);
  r = run("search --model " + model + " --codes " + dir.file("db.dhc") + " --query-codes " + dir.file("one_q.dhc") + " --query 0");
  CHECK(r.status == 1);
  CHECK(r.output.find("were encoded by different models") != std::string::npos);
  // Queries of one model whose labels count other classes: red is yellow there.
  std::filesystem::copy(dir.file("photos/test"), dir.file("renamed"), std::filesystem::copy_options::recursive);
  std::filesystem::rename(dir.file("renamed/red"), dir.file("renamed/yellow"));
  REQUIRE(run("encode --model " + model + " --queries folder:" + dir.file("renamed") + " --out " + dir.file("renamed.dhc")).status == 0);
  r = run("eval --codes " + dir.file("db.dhc") + " --query-codes " + dir.file("renamed.dhc"));
  CHECK(r.status == 1);
  CHECK(r.output.find("number their labels by different class lists (label 2 is class 'red' in " + dir.file("db.dhc") +
                      " and 'yellow' in " + dir.file("renamed.dhc") + ")") != std::string::npos);
  r = run("search --model " + model + " --codes " + dir.file("db.dhc") + " --queries folder:" + dir.file("renamed") + " --query 0");
  CHECK(r.status == 1);
  CHECK(r.output.find("different class lists") != std::string::npos);
  // A set of the file version before models were recorded still meets, with a note.
  save_encoded_set(q, dir.file("q_v2.dhc"), 2);
  CHECK(load_encoded_set(dir.file("q_v2.dhc")).model.empty());
  r = run("eval --codes " + dir.file("db.dhc") + " --query-codes " + dir.file("q_v2.dhc") + " --out " + dir.file("old"));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("note: " + dir.file("db.dhc") + " and " + dir.file("q_v2.dhc") + ": " + dir.file("q_v2.dhc") +
                      " does not record its model") != std::string::npos);
  // A validation split comes out of the training images and is scored at the end.
  r = run("train --dataset " + one + " --queries-per-class 3 --validation-per-class 2" + small + "--out " + dir.file("v.dhm"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("training on 48 images") != std::string::npos);  // 1 a class: at most 10% of 17
  CHECK(r.output.find("validation: 3 images against the 48 training images") != std::string::npos);

  // Transfer: a trained model as the pretrained network, its convolutions frozen, a 4-bit latent
  // layer on its global pool; the result encodes like any model.
  r = run("train --dataset " + archive + " --prototxt " + model + " --init " + model +
          " --latent-after pool --freeze-below pool --bits 4 --epochs 3 --batch 10 --threads 2 --out " + dir.file("t.dhm"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  REQUIRE(run("encode --model " + dir.file("t.dhm") + " --dataset " + archive + " --out " + dir.file("t.dhc")).status == 0);
  CHECK(load_encoded_set(dir.file("t.dhc")).codes.bits() == 4);
  r = run("train --dataset " + archive + small + "--latent-after pool --out " + dir.file("x.dhm"));
  CHECK(r.status == 1);
  CHECK(r.output.find("--latent-after: belongs to transfer from a pretrained network: give --prototxt") != std::string::npos);
  r = run("train --dataset " + archive + " --prototxt " + model + " --init " + model + " --latent-after nowhere --out " + dir.file("x.dhm"));
  CHECK(r.status == 1);
  CHECK(r.output.find("has no blob 'nowhere'") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("x.dhm")));
}

TEST_CASE("the command explains bad input and fails without writing anything") {
  TempDir dir;
  Run r = run("search --model " + dir.file("missing.dhm") + " --codes x --image y");
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.file("missing.dhm") + ": cannot open file") != std::string::npos);
  r = run("train --dataset fashion-mnist:" + dir.path.string() + " --out " + dir.file("m.dhm"));
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.path.string() + ": neither train-images-idx3-ubyte nor") != std::string::npos);
  CHECK_FALSE(std::ifstream(dir.file("m.dhm")).good());
  // A directory where a file is expected is named as one (it used to end in std::bad_alloc).
  std::filesystem::create_directories(dir.file("folder.dhm"));
  r = run("search --model " + dir.file("folder.dhm") + " --codes x --image y");
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.file("folder.dhm") + ": is a directory, where a file was expected") != std::string::npos);
  r = run("index --codes " + dir.file("folder.dhm") + " --out " + dir.file("x.dhx"));
  CHECK(r.status == 1);
  CHECK(r.output.find(dir.file("folder.dhm") + ": is a directory") != std::string::npos);
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

TEST_CASE("demo trains a model per code length of --bits (one network) and reports each next to the baselines") {
  TempDir dir;
  write_split(dir.path.string(), "train", 200, 1);
  write_split(dir.path.string(), "t10k", 20, 2);
  const std::string demo = "demo --dataset fashion-mnist:" + dir.path.string() + " --epochs 1 --batch 20 --lr 0.05 --threads 2 --out " +
                           dir.file("out");
  Run r = run(demo + " --bits 8,16");
  INFO(r.output);
  REQUIRE(r.status == 0);
  std::ifstream json(dir.file("out/results.json"));
  const std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  for (int bits : {8, 16}) {
    CAPTURE(bits);
    const HashingModel m = load_model(dir.file("out/fashion-mnist_" + std::to_string(bits) + "bits.dhm"));
    CHECK(m.make_frontend(1)->code_bits() == bits);
    // Ours, then LSH and ITQ, at this length in results.json.
    std::size_t ours = 0, at = 0;
    for (; (at = text.find("\"method\": \"deephash (ours)\"", at)) != std::string::npos; ++at)
      ours += text.find("\"bits\": " + std::to_string(bits) + ",", at) < text.find('}', at);
    CHECK(ours == 1);
  }
  CHECK(text.find("\"method\": \"ITQ\"") != std::string::npos);
  // Both models share the network below the hash layers: the same first convolution.
  const HashingModel m8 = load_model(dir.file("out/fashion-mnist_8bits.dhm")), m16 = load_model(dir.file("out/fashion-mnist_16bits.dhm"));
  REQUIRE(!m8.weights.empty());
  CHECK(m8.weights.front().layer == m16.weights.front().layer);
  CHECK(m8.weights.front().blobs.front().data == m16.weights.front().blobs.front().data);

  r = run(demo + " --bits 8,x");
  CHECK(r.status == 1);
  CHECK(r.output.find("--bits expects comma-separated integers, got '8,x'") != std::string::npos);
  r = run(demo + " --bits 8,0");
  CHECK(r.status == 1);
}

TEST_CASE("search --index reads the FAISS files that index --format faiss writes") {
  TempDir dir;
  write_split(dir.path.string(), "train", 100, 1);
  write_split(dir.path.string(), "t10k", 20, 2);
  const std::string data = "--dataset fashion-mnist:" + dir.path.string();
  // 12 bits: FAISS stores them as 16, and search reads them back at the database's length.
  Run r = run("train " + data + " --out " + dir.file("m.dhm") + " --bits 12 --epochs 1 --batch 20 --lr 0.05 --threads 2");
  INFO(r.output);
  REQUIRE(r.status == 0);
  REQUIRE(run("encode --model " + dir.file("m.dhm") + " " + data + " --out " + dir.file("db.dhc")).status == 0);
  {
    std::ofstream ids(dir.file("ids.txt"));
    for (int i = 0; i < 100; ++i) ids << 5000 - 7 * i << "\n";  // descending: not the row order
  }
  r = run("index --codes " + dir.file("db.dhc") + " --out " + dir.file("flat.faiss"));
  REQUIRE(r.status == 0);
  r = run("index --codes " + dir.file("db.dhc") + " --out " + dir.file("idmap.faiss") + " --ids " + dir.file("ids.txt"));
  REQUIRE(r.status == 0);
  REQUIRE(read_faiss_binary_index(dir.file("idmap.faiss")).kind == FaissBinaryKind::IDMap2);

  const std::string search = "search --model " + dir.file("m.dhm") + " --codes " + dir.file("db.dhc") + " --query 4 " + data + " --k 12";
  const Run in_memory = run(search);
  INFO(in_memory.output);
  REQUIRE(in_memory.status == 0);
  auto table = [](const std::string& out) { return out.substr(out.find("rank")); };  // rank, id, label, distance, image
  r = run(search + " --index " + dir.file("flat.faiss"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(table(r.output) == table(in_memory.output));
  // The id map's results are found by their ids: the same distances in rank order, and the same
  // images below the last distance (ids descend with the rows, so its ties pick other rows).
  r = run(search + " --index " + dir.file("idmap.faiss") + " --ids " + dir.file("ids.txt"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto ranked = [](const std::string& out) {  // (distance, image) of each result line
    std::vector<std::pair<int, std::string>> rows;
    std::istringstream lines(out.substr(out.find('\n', out.find("rank")) + 1));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::vector<std::string> w{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
      if (w.size() >= 4) rows.emplace_back(std::stoi(w[w.size() - 2]), w.back());  // a label may hold a space
    }
    return rows;
  };
  const auto expected = ranked(in_memory.output), got = ranked(r.output);
  REQUIRE(expected.size() == 12);
  REQUIRE(got.size() == 12);
  std::multiset<std::pair<int, std::string>> expected_inside, got_inside;
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(got[i].first == expected[i].first);
    if (expected[i].first < expected.back().first) expected_inside.insert(expected[i]);
    if (got[i].first < expected.back().first) got_inside.insert(got[i]);
  }
  CHECK(got_inside == expected_inside);
}
