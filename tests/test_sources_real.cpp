// Streaming sources against the in-memory readers on real data: Fashion-MNIST (Debian's
// dataset-fashion-mnist) and the CIFAR-10 JPEG archive of the shared datasets. Each case is a
// ctest entry of its own, reported as skipped where its data is not on this machine.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deephash/data/batch_stream.hpp>
#include <deephash/data/datasets.hpp>
#include <deephash/data/locator.hpp>
#include <deephash/data/sources/archive_source.hpp>
#include <deephash/data/sources/idx_source.hpp>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <string>

#include "support.hpp"

using namespace deephash;
namespace fs = std::filesystem;

namespace {

std::string cifar_archive() {
  const char* env = std::getenv("DEEPHASH_SHARED_DATASETS");
  return std::string(env && *env ? env : DEEPHASH_SHARED_DATASETS) + "/cifar10-train-jpg.tar.gz";
}

// Streams every item and compares it with the in-memory dataset.
void check_stream(const ImageSource& source, const ImageDataset& loaded) {
  REQUIRE(source.size() == loaded.size());
  CHECK(source.class_names() == loaded.class_names);
  std::vector<std::size_t> order(source.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  BatchStream stream(source, order, 256, {}, 2, 4);
  DecodedBatch b;
  std::size_t seen = 0, mismatched = 0;
  while (stream.next(b)) {
    REQUIRE(b.view().image_bytes() == loaded.image_bytes());
    for (std::size_t k = 0; k < b.size(); ++k) {
      const std::size_t i = seen + k;
      if (b.items[k] != i || b.labels[k] != loaded.labels[i] ||
          std::memcmp(b.view()[k].pixels, loaded.image(i), loaded.image_bytes()) != 0)
        ++mismatched;
    }
    seen += b.size();
  }
  CHECK(seen == loaded.size());
  CHECK(mismatched == 0);
  for (std::size_t i : {std::size_t(0), loaded.size() / 2, loaded.size() - 1}) {
    const Image im = read_image_at(source.locator(i), loaded.channels);
    CHECK(std::memcmp(im.pixels.data(), loaded.image(i), loaded.image_bytes()) == 0);
  }
}

}  // namespace

DEEPHASH_OPTIONAL_TEST_CASE("fashion-mnist streamed") {
  const std::string dir = default_fashion_mnist_dir();
  test::skip_unless(fs::exists(fs::path(dir) / "t10k-labels-idx1-ubyte.gz") || fs::exists(fs::path(dir) / "t10k-labels-idx1-ubyte"),
                    "Fashion-MNIST not found in " + dir + " (install dataset-fashion-mnist)");
  for (const char* split : {"train", "test"}) {
    const auto source = IdxSource::fashion_mnist(dir, split);
    check_stream(*source, load_fashion_mnist(dir, split));
  }
}

DEEPHASH_OPTIONAL_TEST_CASE("cifar10 jpeg archive streamed") {
  const std::string path = cifar_archive();
  test::skip_unless(fs::exists(path), path + " not found (the shared datasets are not on this machine)");
  const ImageDataset loaded = load_image_archive(path);
  auto start = std::chrono::steady_clock::now();
  const ArchiveSource source(path);  // sequential: one pass over the headers
  MESSAGE("indexed in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  CHECK_FALSE(source.random_access());
  start = std::chrono::steady_clock::now();
  check_stream(source, loaded);
  MESSAGE("streamed in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  CHECK(list_class_sets(path) == std::vector<std::string>{"train"});
}
