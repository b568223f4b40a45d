// Hostile input, injected faults and concurrent load: regression tests for what fuzzing found,
// saves that fail or die midway, a full disk, and many threads on one index.
#include <doctest/doctest.h>

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <deephash/core/checksum.hpp>
#include <deephash/data/image_decode.hpp>
#include <deephash/eval/hamming_ranking.hpp>
#include <deephash/frontend.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/nn/net_builder.hpp>
#include <deephash/nn/trainer.hpp>

#include "support.hpp"

using namespace deephash;
using test::TempDir;

namespace {

// Runs fn in a child process and returns its exit status (fn returns the child's exit code).
template <class Fn>
int in_child(Fn&& fn) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

HammingIndex index_of(std::size_t n, std::uint64_t seed) {
  HammingIndex index(64, 1);
  index.add(test::random_codes(n, 64, seed));
  return index;
}

std::size_t temp_files_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.path().filename().string().find(".tmp-") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("fuzzing regression: a 73-byte PNG whose chunk length would make stb_image allocate 600 MB") {
  const std::uint8_t png[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
                              0x52, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x8c,
                              0x9a, 0xc1, 0xa2, 0x26, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x5e, 0x63, 0x6c,
                              0x60, 0x60, 0x60, 0x60, 0x62, 0x40, 0x21, 0x00, 0x74, 0xe4, 0x09, 0x88, 0xec, 0x7e, 0x00,
                              0x08, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x04, 0xae, 0x42, 0x60, 0x00};
  CHECK_THROWS_WITH_AS(decode_image(png, sizeof png, "hostile.png"), doctest::Contains("corrupt or truncated PNG: chunk"), Error);
}

TEST_CASE("images: a header claiming a huge size, and formats deephash does not read") {
  // A valid PNG signature and IHDR claiming 9000 x 9000 pixels (no pixel data follows): within
  // stb_image's own limits, beyond deephash's.
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                   0, 0, 0x23, 0x28, 0, 0, 0x23, 0x28, 8, 2, 0, 0, 0};
  const std::uint32_t crc = crc32(png.data() + 12, 17);
  for (int s = 24; s >= 0; s -= 8) png.push_back(std::uint8_t(crc >> s));
  const std::uint8_t iend[] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  png.insert(png.end(), iend, iend + sizeof iend);
  CHECK_THROWS_WITH_AS(decode_image(png.data(), png.size(), "huge.png"), doctest::Contains("more than the limit of 64 Mpixels"), Error);
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  CHECK_THROWS_WITH_AS(decode_image(reinterpret_cast<const std::uint8_t*>(gif.data()), gif.size(), "a.gif"),
                       doctest::Contains("not an image"), Error);
}

TEST_CASE("a save that fails midway (file size limit) reports it and leaves the previous file intact") {
  TempDir dir;
  const std::string path = dir.file("index.dhx");
  save_index(index_of(100, 1), path);
  const auto before = read_file_bytes(path);
  const int status = in_child([&] {
    signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing the process
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    const std::string message = test::error_message([&] { save_index(index_of(50000, 2), path); });
    return message.find("write failed (File too large)") != std::string::npos &&
                   message.find("the previous file, if any, is unchanged") != std::string::npos
               ? 0
               : 1;
  });
  CHECK(status == 0);
  CHECK(read_file_bytes(path) == before);
  CHECK(temp_files_in(dir.path.string()) == 0);
}

DEEPHASH_OPTIONAL_TEST_CASE("a full disk is reported as such and the previous file stays") {
  // In a scope of its own, so that the directory is gone before skip_unless may end the process.
  const int status = [] {
    TempDir dir;
    const std::string mount_point = dir.file("small-disk");
    std::filesystem::create_directories(mount_point);
    return in_child([&] {
      // A 64 KiB tmpfs in a private mount namespace (as root, or in a user namespace).
      if (unshare(CLONE_NEWNS) != 0) {
        const uid_t uid = getuid();
        const gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return 77;
        std::ofstream("/proc/self/setgroups") << "deny";
        std::ofstream("/proc/self/uid_map") << "0 " << uid << " 1";
        std::ofstream("/proc/self/gid_map") << "0 " << gid << " 1";
      }
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
      if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") != 0) return 77;
      const std::string path = mount_point + "/index.dhx";
      save_index(index_of(100, 3), path);  // 1 KiB: fits
      const auto before = read_file_bytes(path);
      const std::string message = test::error_message([&] { save_index(index_of(20000, 4), path); });  // 160 KiB
      const bool told = message.find("the disk is full") != std::string::npos && message.find(path) == 0;
      const bool kept = read_file_bytes(path) == before && temp_files_in(mount_point) == 0;
      return told && kept ? 0 : 1;
    });
  }();
  test::skip_unless(status != 77, "cannot mount a small tmpfs here (no mount namespace)");
  CHECK(status == 0);
}

TEST_CASE("a process killed while saving never leaves a damaged file") {
  TempDir dir;
  const std::string path = dir.file("index.dhx");
  const HammingIndex a = index_of(30000, 5), b = index_of(30000, 6);
  save_index(a, path);
  const BitCodes codes_a = a.codes(), codes_b = b.codes();
  std::mt19937 rng(7);
  for (int round = 0; round < 12; ++round) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0;; ++i) save_index(i % 2 ? a : b, path);  // until killed
    }
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 20000));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    const BitCodes codes = load_index(path)->codes();  // would throw if damaged
    CHECK((codes == codes_a || codes == codes_b));
  }
  // A killed save can leave its temporary file behind (nothing runs after SIGKILL), never a
  // damaged destination; the temporary files are named <file>.tmp-XXXXXX.
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    if (e.path().filename() != "index.dhx") CHECK(e.path().filename().string().rfind("index.dhx.tmp-", 0) == 0);
}

TEST_CASE("load: many threads searching one index get what one thread gets") {
  const BitCodes db = test::random_codes(40000, 48, 8, 500);
  const BitCodes queries = test::random_codes(32, 48, 9, 500);
  HammingIndex index(48, 2);
  index.add(db);
  std::vector<KnnResult> knn;
  for (idx_t k : {1, 10, 100, 1000}) knn.push_back(index.search(queries, k));
  const RangeSearchResult range = index.range_search(queries, 6);
  std::atomic<int> mismatches{0}, runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 40; ++i) {
        const std::size_t which = rng() % 5;
        if (which < 4) {
          const KnnResult r = index.search(queries, knn[which].k);
          mismatches += r.labels != knn[which].labels || r.distances != knn[which].distances;
        } else {
          const RangeSearchResult r = index.range_search(queries, 6);
          mismatches += r.labels != range.labels || r.lims != range.lims;
        }
        ++runs;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(runs == 320);
  CHECK(mismatches == 0);
}

TEST_CASE("edge cases have defined results") {
  // An empty query set: nothing to score, no division by zero.
  HammingIndex index(16);
  index.add(test::random_codes(10, 16, 1));
  const RankingScores s = evaluate_hamming_ranking(index, BitCodes(0, 16), SingleLabelRelevance({}, std::vector<int>(10, 0)), 5);
  CHECK(s.map == 0);
  CHECK(s.average_precision.empty());
  // Queries against an empty index: every rank missing.
  HammingIndex empty(16);
  const KnnResult r = empty.search(test::random_codes(2, 16, 2), 3);
  CHECK(r.labels == std::vector<idx_t>(6, kMissingLabel));
  // Training on nothing is an error, not a crash.
  ImageDataset none;
  none.height = none.width = 4;
  none.channels = 1;
  nn::NetBuilder b("t");
  b.input("data", {1, 1, 4, 4});
  b.input("label", {1});
  b.softmax_loss("loss", b.inner_product("fc", "data", 2), "label");
  nn::Net<float> net(b.spec(), nn::Phase::Train);
  nn::SgdSolver<float> solver(net, nn::SolverSpec{});
  ThreadPool pool(1);
  CHECK_THROWS_WITH_AS(nn::train(net, solver, none, nn::TrainOptions{}, 5, pool), doctest::Contains("the training set is empty"), Error);
  // Infinite activations are ordinary values (+inf sets the bit, -inf clears it); NaN is refused.
  const float inf = std::numeric_limits<float>::infinity();
  const float act[] = {inf, -inf, std::numeric_limits<float>::quiet_NaN()};
  CHECK(binarize(act, 1, 2).code(0)[0] == 1);
  CHECK_THROWS_WITH_AS(binarize(act, 1, 3), doctest::Contains("column 2 is NaN"), Error);
}
