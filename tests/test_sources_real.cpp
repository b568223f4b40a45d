// Streaming sources against the in-memory readers on real data: Fashion-MNIST (Debian's
// dataset-fashion-mnist) and the CIFAR-10 JPEG archive of the shared datasets. Run as
// `test_sources_real fashion-mnist` or `test_sources_real cifar10-jpg`; exits 77 (reported as
// skipped by CTest) when that data is not on this machine.
#define DOCTEST_CONFIG_IMPLEMENT
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

TEST_CASE("fashion-mnist") {
  const std::string dir = default_fashion_mnist_dir();
  for (const char* split : {"train", "test"}) {
    const auto source = IdxSource::fashion_mnist(dir, split);
    check_stream(*source, load_fashion_mnist(dir, split));
  }
}

TEST_CASE("cifar10-jpg") {
  const std::string path = cifar_archive();
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

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_sources_real fashion-mnist|cifar10-jpg\n";
    return 2;
  }
  const std::string which = argv[1];
  const bool present = which == "fashion-mnist"
                           ? fs::exists(fs::path(default_fashion_mnist_dir()) / "t10k-labels-idx1-ubyte.gz") ||
                                 fs::exists(fs::path(default_fashion_mnist_dir()) / "t10k-labels-idx1-ubyte")
                           : fs::exists(cifar_archive());
  if (!present) {
    std::cout << which << ": the data is not on this machine: skipped\n";
    return 77;
  }
  doctest::Context context;
  context.addFilter("test-case", which.c_str());
  return context.run();
}
