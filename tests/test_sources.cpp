// Streaming sources against the in-memory readers on generated data: the same pixels, labels
// and order for every format through BatchStream; locators read back; the streaming gunzip on
// gzip(1)'s output, in uneven pieces and against gunzip() (the same decoder read whole);
// BatchStream's ordering, errors and early destruction.
#include <doctest/doctest.h>
#include <stb_image_write.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deephash/data/batch_stream.hpp>
#include <deephash/data/datasets.hpp>
#include <deephash/data/file_stream.hpp>
#include <deephash/data/inflate.hpp>
#include <deephash/data/locator.hpp>
#include <deephash/data/sources/archive_source.hpp>
#include <deephash/data/sources/cifar_source.hpp>
#include <deephash/data/sources/folder_source.hpp>
#include <deephash/data/sources/idx_source.hpp>
#include <deephash/data/sources/list_source.hpp>
#include <deephash/data/sources/memory_source.hpp>
#include <deephash/data/tar_stream.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "sources_support.hpp"
#include "support.hpp"

using namespace deephash;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

using test::write_bytes;

void run(const std::string& command) { REQUIRE(std::system(command.c_str()) == 0); }

// Everything a GzipFileReader gives, read in uneven pieces.
Bytes stream_all(const std::string& path) {
  GzipFileReader r(path);
  Bytes out, piece(7777);
  for (std::size_t n; (n = r.read(piece.data(), piece.size())) > 0;) out.insert(out.end(), piece.begin(), piece.begin() + long(n));
  return out;
}

// A folder of small PNGs and JPEGs: <dir>/<set>/<class>/<file>, 3 classes of `per_class`.
void write_image_tree(const std::string& dir, const std::string& set, int per_class, int seed) {
  const char* classes[] = {"bird", "cat", "dog"};
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < per_class; ++k) {
      const std::string path = dir + "/" + set + "/" + classes[c] + "/" + std::to_string(k) + (k % 2 ? ".jpg" : ".png");
      fs::create_directories(fs::path(path).parent_path());
      const Image im = test::noise_image(12, 10, 3, seed + c * 100 + k);
      if (k % 2)
        REQUIRE(stbi_write_jpg(path.c_str(), im.width, im.height, 3, im.pixels.data(), 90) != 0);
      else
        REQUIRE(stbi_write_png(path.c_str(), im.width, im.height, 3, im.pixels.data(), im.width * 3) != 0);
    }
}

// Every item of the source through BatchStream (ascending order), as one dataset.
ImageDataset stream_dataset(const ImageSource& source, DecodeOptions options = {}, unsigned workers = 3,
                            std::size_t batch = 4) {
  std::vector<std::size_t> order(source.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  BatchStream stream(source, order, batch, options, workers, 2);
  ImageDataset out;
  DecodedBatch b;
  while (stream.next(b)) {
    out.height = b.height;
    out.width = b.width;
    out.channels = b.channels;
    out.pixels.insert(out.pixels.end(), b.pixels.begin(), b.pixels.end());
    out.labels.insert(out.labels.end(), b.labels.begin(), b.labels.end());
  }
  return out;
}

void check_same(const ImageDataset& streamed, const ImageDataset& loaded, const ImageSource& source) {
  REQUIRE(streamed.size() == loaded.size());
  CHECK(streamed.labels == loaded.labels);
  CHECK(streamed.height == loaded.height);
  CHECK(streamed.width == loaded.width);
  CHECK(streamed.channels == loaded.channels);
  CHECK(streamed.pixels == loaded.pixels);
  CHECK(source.class_names() == loaded.class_names);
  if (!loaded.paths.empty())
    for (std::size_t i = 0; i < loaded.size(); ++i) CHECK(source.locator(i) == loaded.paths[i]);
}

// read_image_at(locator(i)) gives item i's pixels, for every item.
void check_locators(const ImageSource& source, const ImageDataset& loaded) {
  std::vector<std::string> locators;
  for (std::size_t i = 0; i < source.size(); ++i) {
    locators.push_back(source.locator(i));
    const Image im = read_image_at(locators.back(), loaded.channels);
    REQUIRE(im.bytes() == loaded.image_bytes());
    CHECK(std::memcmp(im.pixels.data(), loaded.image(i), im.bytes()) == 0);
  }
  std::reverse(locators.begin(), locators.end());
  const std::vector<Image> all = read_images_at(locators, loaded.channels);
  for (std::size_t k = 0; k < all.size(); ++k)
    CHECK(std::memcmp(all[k].pixels.data(), loaded.image(all.size() - 1 - k), loaded.image_bytes()) == 0);
}

}  // namespace

TEST_CASE("streaming gunzip matches gunzip(): sizes, levels, stored and Huffman blocks, members") {
  TempDir dir;
  std::mt19937_64 rng(5);
  std::vector<Bytes> inputs = {{}, {'a'}};
  for (std::size_t n : {100u, 40000u, 70000u, 300000u}) {
    Bytes text(n), noise(n);
    for (std::size_t i = 0; i < n; ++i) {
      text[i] = std::uint8_t("deep hashing of images "[rng() % 23]);  // matches, dynamic Huffman
      noise[i] = std::uint8_t(rng());                                     // stored blocks
    }
    inputs.push_back(text);
    inputs.push_back(noise);
  }
  inputs.push_back(Bytes(200000, 7));  // long runs: overlapping matches
  for (std::size_t k = 0; k < inputs.size(); ++k)
    for (int level : {1, 6, 9}) {
      const std::string raw = dir.file("in" + std::to_string(k)), gz = raw + "." + std::to_string(level) + ".gz";
      write_bytes(raw, inputs[k]);
      run("gzip -c -" + std::to_string(level) + " " + raw + " > " + gz);
      CHECK(stream_all(gz) == inputs[k]);
      CHECK(stream_all(gz) == read_file_maybe_gzip(gz));
    }
  // Fixed Huffman: a short input gzip codes with the fixed tables.
  write_bytes(dir.file("short"), Bytes{'a', 'b', 'a', 'b', 'a', 'b', 'c'});
  run("gzip -c " + dir.file("short") + " > " + dir.file("short.gz"));
  CHECK(stream_all(dir.file("short.gz")) == Bytes{'a', 'b', 'a', 'b', 'a', 'b', 'c'});
  // Several members.
  run("cat " + dir.file("in2.9.gz") + " " + dir.file("in3.1.gz") + " > " + dir.file("multi.gz"));
  CHECK(stream_all(dir.file("multi.gz")) == read_file_maybe_gzip(dir.file("multi.gz")));

  // Damage: always an Error naming the file, never a crash or hang.
  const Bytes good = read_file_bytes(dir.file("in4.6.gz"));  // 40000 text bytes
  const std::string bad = dir.file("bad.gz");
  for (std::size_t cut : {std::size_t(5), std::size_t(20), good.size() / 2, good.size() - 4, good.size() - 1}) {
    write_bytes(bad, Bytes(good.begin(), good.begin() + long(cut)));
    CHECK_THROWS_WITH_AS(stream_all(bad), doctest::Contains(bad.c_str()), Error);
  }
  {
    Bytes b = good;
    b[b.size() - 6] ^= 1;  // the CRC
    write_bytes(bad, b);
    CHECK_THROWS_WITH_AS(stream_all(bad), doctest::Contains("CRC mismatch"), Error);
    b = good;
    b[b.size() - 2] ^= 1;  // ISIZE
    write_bytes(bad, b);
    CHECK_THROWS_WITH_AS(stream_all(bad), doctest::Contains("ISIZE"), Error);
  }
  std::mt19937_64 flip(9);
  for (int t = 0; t < 300; ++t) {
    Bytes b = good;
    const std::size_t at = 10 + flip() % (b.size() - 18);
    b[at] ^= std::uint8_t(1 + flip() % 255);
    write_bytes(bad, b);
    try {
      const Bytes out = stream_all(bad);
      FAIL("damage at byte " << at << " was not detected");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
    }
  }
}

TEST_CASE("TarStream::read_data allocates for the bytes that arrive, not for the size a header declares") {
  // Seen while writing fuzz_tar_stream (which reads members whatever size they declare):
  // read_data resized its buffer to the declared size first, so a damaged header declaring 8 GiB
  // made a .tar.gz reader allocate 8 GiB before it could find the data cut short.
  TempDir dir;
  write_bytes(dir.file("a.bin"), Bytes{1, 2, 3});
  run("cd " + dir.file("") + " && tar -cf a.tar a.bin");
  Bytes tar = read_file_bytes(dir.file("a.tar"));
  std::memcpy(&tar[124], "77777777777", 11);  // 8 GiB - 1
  std::memset(&tar[148], ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += tar[std::size_t(i)];
  std::snprintf(reinterpret_cast<char*>(&tar[148]), 8, "%06o", sum);
  write_bytes(dir.file("big.tar"), tar);
  run("gzip -c " + dir.file("big.tar") + " > " + dir.file("big.tar.gz"));
  auto read_member = [](TarStream tar) {
    TarStreamMember m;
    REQUIRE(tar.next(m));
    CHECK(m.size == (std::uint64_t(1) << 33) - 1);
    Bytes data;
    CHECK_THROWS_WITH_AS(tar.read_data(data), doctest::Contains("declares 8589934591 bytes, only"), Error);
    CHECK(data.capacity() < (std::size_t(16) << 20));
  };
  read_member(TarStream(std::make_unique<MemoryStream>(tar.data(), tar.size(), "big.tar")));
  read_member(TarStream(dir.file("big.tar.gz")));
}

TEST_CASE("folder and list sources give what load_image_folder and load_image_list give") {
  TempDir dir;
  write_image_tree(dir.file("imgs"), "train", 5, 1);
  write_image_tree(dir.file("imgs"), "test", 3, 2);
  const std::string train = dir.file("imgs/train");

  const FolderSource folder(train);
  CHECK(folder.random_access());
  const ImageDataset loaded = load_image_folder(train);
  check_same(stream_dataset(folder), loaded, folder);
  check_locators(folder, loaded);

  // With a resize and gray output, and one worker or many.
  ImageLoadOptions load_options;
  load_options.channels = 1;
  load_options.resize_height = 7;
  load_options.resize_width = 9;
  DecodeOptions options;
  options.channels = 1;
  options.resize_height = 7;
  options.resize_width = 9;
  const ImageDataset small = load_image_folder(train, load_options);
  check_same(stream_dataset(folder, options, 1, 5), small, folder);
  check_same(stream_dataset(folder, options, 4, 1), small, folder);

  // train/ and test/ are two sets: named, kept apart, and an error when none is named.
  CHECK(list_class_sets(dir.file("imgs")) == std::vector<std::string>{"test", "train"});
  const FolderSource test_set(dir.file("imgs"), "test");
  CHECK(test_set.size() == 9);
  check_same(stream_dataset(test_set), load_image_folder(dir.file("imgs/test")), test_set);
  CHECK_THROWS_WITH_AS(FolderSource(dir.file("imgs")), doctest::Contains("several sets of class folders (test, train)"), Error);

  // A list file.
  std::string text;
  for (std::size_t i = loaded.size(); i-- > 0;)
    text += fs::relative(loaded.paths[i], train).string() + " " + std::to_string(i % 4) + "\n";
  write_bytes(dir.file("list.txt"), Bytes(text.begin(), text.end()));
  const ListSource list(dir.file("list.txt"), train);
  const ImageDataset listed = load_image_list(dir.file("list.txt"), train);
  check_same(stream_dataset(list), listed, list);
  check_locators(list, listed);
}

TEST_CASE("archive sources: .tar (random access), .tar.gz (sequential or cached), train/ and test/ apart") {
  TempDir dir;
  write_image_tree(dir.file("imgs"), "train", 4, 3);
  write_image_tree(dir.file("imgs"), "test", 2, 4);
  run("cd " + dir.file("imgs") + " && tar --sort=name -cf ../train.tar train && tar --sort=name -cf ../both.tar train test");
  run("gzip -c " + dir.file("train.tar") + " > " + dir.file("train.tar.gz"));
  run("gzip -c " + dir.file("both.tar") + " > " + dir.file("both.tar.gz"));

  for (const char* name : {"train.tar", "train.tar.gz"}) {
    const std::string path = dir.file(name);
    const ImageDataset loaded = load_image_archive(path);
    for (bool cache : {false, true}) {
      ArchiveSourceOptions options;
      options.cache_members = cache;
      const ArchiveSource source(path, options);
      CHECK(source.random_access() == (cache || fs::path(path).extension() == ".tar"));
      check_same(stream_dataset(source), loaded, source);
      check_same(stream_dataset(source, {}, 1, 3), loaded, source);
    }
    check_locators(ArchiveSource(path), loaded);
  }

  for (const char* name : {"both.tar", "both.tar.gz"}) {
    const std::string path = dir.file(name);
    CHECK(list_class_sets(path) == std::vector<std::string>{"test", "train"});
    CHECK_THROWS_WITH_AS(ArchiveSource{path}, doctest::Contains("several sets of class folders (test, train)"), Error);
    ArchiveSourceOptions options;
    options.subfolder = "test";
    const ArchiveSource test_set(path, options);
    CHECK(test_set.size() == 6);
    CHECK(test_set.spec() == "archive:" + path + "@test");
    for (std::size_t i = 0; i < test_set.size(); ++i)
      CHECK(test_set.locator(i).find(path + ":test/") == 0);
    // The in-memory reader merges train/ship and test/ship; the test set alone is the folder's.
    ImageDataset folder = load_image_folder(dir.file("imgs/test"));
    folder.paths.clear();  // the locators name the archive's members
    check_same(stream_dataset(test_set), folder, test_set);
  }

  // A .tar.gz whose members are not stored in name order gives the same items in the same
  // (name) order as a sorted one: it cannot be streamed in that order, so it is cached.
  run("cd " + dir.file("imgs") + " && find train -type f | sort -r | tar -czf ../reversed.tar.gz -T -");
  {
    const ArchiveSource reversed(dir.file("reversed.tar.gz"));
    CHECK(reversed.random_access());
    const ImageDataset loaded = load_image_archive(dir.file("train.tar.gz"));
    ImageDataset renamed = loaded;
    for (auto& p : renamed.paths) p.replace(0, dir.file("train.tar.gz").size(), dir.file("reversed.tar.gz"));
    check_same(stream_dataset(reversed), renamed, reversed);
  }

  // A .tar.gz read sequentially: the order must increase.
  const ArchiveSource sequential(dir.file("train.tar.gz"));
  CHECK_THROWS_WITH_AS(BatchStream(sequential, {2, 1}, 2), doctest::Contains("the order must increase"), Error);
  {
    BatchStream some(sequential, {1, 5, 9}, 2, {}, 2, 1);
    DecodedBatch b;
    REQUIRE(some.next(b));
    CHECK(b.items == std::vector<std::size_t>{1, 5});
    REQUIRE(some.next(b));
    CHECK(b.items == std::vector<std::size_t>{9});
    CHECK_FALSE(some.next(b));
  }
  CHECK_THROWS_WITH_AS(read_image_at(dir.file("train.tar.gz") + ":train/cat/99.png"), doctest::Contains("no member train/cat/99.png"), Error);
  CHECK_THROWS_WITH_AS(read_image_at(dir.file("nothing.tar") + ":x.png"), doctest::Contains("no such file"), Error);
}

TEST_CASE("IDX, CIFAR-10 and memory sources give what the in-memory readers give") {
  TempDir dir;
  // IDX: 7 images of 5x4, plain and gzip.
  Bytes images = {0, 0, 8, 3, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 0, 4}, labels = {0, 0, 8, 1, 0, 0, 0, 7};
  for (int i = 0; i < 7 * 20; ++i) images.push_back(std::uint8_t(i * 13));
  for (int i = 0; i < 7; ++i) labels.push_back(std::uint8_t(i % 3));
  write_bytes(dir.file("idx/images"), images);
  write_bytes(dir.file("idx/labels"), labels);
  run("gzip -c " + dir.file("idx/images") + " > " + dir.file("idx/images.gz"));
  for (const char* name : {"idx/images", "idx/images.gz"}) {
    const IdxSource source(dir.file(name), dir.file("idx/labels"));
    const ImageDataset loaded = read_idx_dataset(dir.file(name), dir.file("idx/labels"));
    check_same(stream_dataset(source), loaded, source);
    check_locators(source, loaded);
    CHECK_THROWS_WITH_AS(read_image_at(dir.file(name) + "#7"), doctest::Contains("there is no record 7"), Error);
  }

  // CIFAR-10: 3 + 2 records in train batches 1..5 (uneven), 4 in the test batch.
  auto batch = [](std::size_t n, int seed) {
    Bytes out;
    for (std::size_t r = 0; r < n; ++r) {
      out.push_back(std::uint8_t((r + std::size_t(seed)) % 10));
      for (std::size_t p = 0; p < 3 * 1024; ++p) out.push_back(std::uint8_t(p * 7 + r * 31 + std::size_t(seed)));
    }
    return out;
  };
  for (int i = 1; i <= 5; ++i) write_bytes(dir.file("cifar/data_batch_" + std::to_string(i) + ".bin"), batch(std::size_t(i % 3 + 1), i));
  write_bytes(dir.file("cifar/test_batch.bin"), batch(4, 9));
  for (const char* split : {"train", "test"}) {
    const CifarSource source(dir.file("cifar"), split);
    const ImageDataset loaded = load_cifar10_binary(dir.file("cifar"), split);
    check_same(stream_dataset(source), loaded, source);
    check_locators(source, loaded);
  }

  // Memory, and gray from colour the way stb converts.
  const ImageDataset cifar = load_cifar10_binary(dir.file("cifar"), "test");
  const MemorySource memory(cifar);
  check_same(stream_dataset(memory), cifar, memory);
  // Any images back to back (a numpy array from Python) with their labels, not copied.
  const MemorySource view(cifar.all(), cifar.labels, cifar.class_names, "view");
  check_same(stream_dataset(view), cifar, view);
  CHECK(view.locator(2) == "view#2");
  CHECK_THROWS_WITH_AS(MemorySource(cifar.all(), {1, 2}), doctest::Contains("4 images but 2 labels"), Error);
  CHECK_THROWS_WITH_AS(MemorySource(cifar.all(), {0, 1, -1, 0}), doctest::Contains("label -1 of image 2 is negative"), Error);
  CHECK_THROWS_WITH_AS(MemorySource(ImageBatchView{0, 32, 3, cifar.pixels.data(), 1}, {0}), doctest::Contains("a positive size, got 0x32x3"),
                       Error);
  DecodeOptions gray;
  gray.channels = 1;
  const ImageDataset as_gray = stream_dataset(memory, gray);
  const std::uint8_t* p = cifar.image(1);
  CHECK(as_gray.pixels[1024] == std::uint8_t((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8));
}

TEST_CASE("BatchStream: order with many workers, errors name the locator, early destruction") {
  TempDir dir;
  write_image_tree(dir.file("imgs"), "set", 6, 5);
  const FolderSource folder(dir.file("imgs/set"));
  const ImageDataset loaded = load_image_folder(dir.file("imgs/set"));
  std::vector<std::size_t> order(folder.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::shuffle(order.begin(), order.end(), std::mt19937_64(3));
  {
    BatchStream stream(folder, order, 5, {}, 4, 3);
    CHECK(stream.num_batches() == 4);
    DecodedBatch b;
    std::size_t seen = 0;
    while (stream.next(b)) {
      for (std::size_t k = 0; k < b.size(); ++k) {
        CHECK(b.items[k] == order[seen + k]);
        CHECK(b.labels[k] == loaded.labels[order[seen + k]]);
        CHECK(std::memcmp(b.view()[k].pixels, loaded.image(order[seen + k]), loaded.image_bytes()) == 0);
      }
      seen += b.size();
    }
    CHECK(seen == order.size());
  }
  // Early destruction: after one batch of many, and before any.
  for (int taken : {0, 1}) {
    std::vector<std::size_t> many;
    for (int r = 0; r < 200; ++r) many.insert(many.end(), order.begin(), order.end());
    BatchStream stream(folder, many, 4, {}, 3, 2);
    DecodedBatch b;
    if (taken) CHECK(stream.next(b));
  }
  // A corrupt file: the error names its locator.
  const std::string broken = folder.locator(7);
  write_bytes(broken, Bytes{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F'});
  {
    BatchStream stream(folder, order, 3, {}, 2, 2);
    DecodedBatch b;
    CHECK_THROWS_WITH_AS(while (stream.next(b)) {}, doctest::Contains(broken.c_str()), Error);
  }
  // Mixed sizes without a resize.
  write_bytes(folder.locator(3), Bytes());
  {
    const Image big = test::noise_image(20, 20, 3, 1);
    REQUIRE(stbi_write_png(folder.locator(3).c_str(), 20, 20, 3, big.pixels.data(), 60) != 0);
    BatchStream stream(folder, {0, 1, 2, 3}, 4, {}, 1, 1);
    DecodedBatch b;
    CHECK_THROWS_WITH_AS(stream.next(b), doctest::Contains("set DecodeOptions::resize_height"), Error);
  }
  CHECK_THROWS_WITH_AS(BatchStream(folder, {folder.size()}, 1), doctest::Contains("out of range"), Error);
}
