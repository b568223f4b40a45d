// deephash::mpi under mpirun (ctest runs it at 2 and 3 ranks, label mpi): sharded search,
// evaluation and encoding against one process over the union, and the faults every rank must
// report. Every rank runs every case, and every case makes the same collective calls on every
// rank (checks are CHECKs, never REQUIREs, so that no rank leaves a case early).

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/mpi/sharded_encode.hpp>
#include <deephash/mpi/sharded_evaluation.hpp>
#include <deephash/mpi/sharded_index.hpp>
#include <deephash/data/sources/memory_source.hpp>

#include "support.hpp"

using namespace deephash;
using deephash::test::random_codes;

namespace {

mpi::Communicator* g_comm = nullptr;  // the job's world, set in main

mpi::Communicator& world() { return *g_comm; }

// A folder every rank sees (rank 0 makes it and names it), removed at the end of the case.
struct SharedDir {
  std::filesystem::path path;
  SharedDir() {
    std::vector<std::uint8_t> name;
    if (world().rank() == 0) {
      const auto p = std::filesystem::temp_directory_path() /
                     ("deephash-mpi-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
      std::filesystem::create_directories(p);
      const std::string s = p.string();
      name.assign(s.begin(), s.end());
    }
    world().broadcast(name);
    path = std::string(name.begin(), name.end());
  }
  ~SharedDir() {
    world().barrier();
    if (world().rank() == 0) std::filesystem::remove_all(path);
  }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

// The message every rank throws (SharedError), or "" when none does.
template <class Fn>
std::string shared_error(Fn&& fn) {
  try {
    fn();
  } catch (const SharedError& e) {
    return e.what();
  }
  return "";
}

// This rank's slice of `all` as its shard's index, under global ids.
std::unique_ptr<mpi::ShardedIndex> shard_index(const BitCodes& all, const std::string& kind) {
  const auto [first, last] = slice_of(all.size(), world().rank(), world().size());
  mpi::EncodedShard shard;
  shard.set.codes = all.slice(first, last);
  shard.first = idx_t(first);
  shard.total = all.size();
  return mpi::index_encoded_shards(world(), shard, kind, 1);
}

}  // namespace

TEST_CASE("slices cover the collection in order, sizes within one") {
  for (std::size_t n : {0u, 1u, 2u, 7u, 1000u, 1001u})
    for (int ranks = 1; ranks <= 5; ++ranks) {
      std::size_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [b, e] = slice_of(n, r, ranks);
        CHECK(b == next);
        CHECK(e - b <= n / std::size_t(ranks) + 1);
        CHECK(e - b >= n / std::size_t(ranks));
        next = e;
      }
      CHECK(next == n);
    }
}

TEST_CASE("a sharded index answers k-NN and radius searches exactly as one index over the union") {
  for (int bits : {12, 48, 64, 200})
    for (const char* kind : {"flat", "mih"}) {
      // Few distinct codes: long runs of ties, which the merge must break by global id.
      const BitCodes all = random_codes(2003, bits, 7 + std::uint64_t(bits), 40);
      const BitCodes queries = random_codes(37, bits, 99 + std::uint64_t(bits), 40);
      HammingIndex one(bits, 1);
      one.add(all);
      const auto sharded = shard_index(all, kind);
      CHECK(sharded->size() == idx_t(all.size()));
      CHECK(sharded->kind() == std::string("sharded-") + kind);
      for (idx_t k : {1, 10, 1000, 2003 + 5}) {
        const KnnResult a = one.search(queries, k), b = sharded->search(queries, k);
        INFO(bits << " bits, " << kind << ", k " << k);
        CHECK(a.distances == b.distances);
        CHECK(a.labels == b.labels);
      }
      for (int radius : {0, 3, bits / 3, bits}) {
        const RangeSearchResult a = one.range_search(queries, radius), b = sharded->range_search(queries, radius);
        INFO(bits << " bits, " << kind << ", radius " << radius);
        CHECK(a.lims == b.lims);
        CHECK(a.distances == b.distances);
        CHECK(a.labels == b.labels);
      }
    }
}

TEST_CASE("a sharded index's ids, lookups, additions, removals and files behave as one index's") {
  const int bits = 48;
  const BitCodes all = random_codes(501, bits, 3, 25);
  HammingIndex one(bits, 1);
  one.add(all);
  auto sharded = shard_index(all, "flat");
  CHECK(sharded->ids() == one.ids());
  CHECK(sharded->next_id() == one.next_id());
  CHECK(sharded->contains(500));
  CHECK_FALSE(sharded->contains(501));
  std::vector<std::uint64_t> code(1);
  sharded->reconstruct(250, code.data());
  CHECK(code[0] == all.code(250)[0]);

  const BitCodes more = random_codes(30, bits, 4, 25);
  one.add(more);
  sharded->add(more);
  CHECK(sharded->size() == one.size());
  const std::vector<idx_t> gone = {0, 17, 260, 510, 9999};
  CHECK(sharded->remove_ids(gone) == one.remove_ids(gone));
  const BitCodes queries = random_codes(20, bits, 5, 25);
  CHECK(sharded->search(queries, 50).labels == one.search(queries, 50).labels);
  CHECK(sharded->ids() == one.ids());
  // An id on another rank cannot be added again.
  CHECK(shared_error([&] { sharded->add_with_ids(BitCodes(random_codes(1, bits, 6)), std::vector<idx_t>{300}); })
            .find("id 300 is already in the index") != std::string::npos);

  SharedDir dir;
  sharded->save(dir.file("index.dhi"));
  const auto reopened = mpi::open_sharded_index(world(), dir.file("index.dhi"), 1);
  CHECK(reopened->size() == one.size());
  CHECK(reopened->search(queries, 50).labels == one.search(queries, 50).labels);
  CHECK(reopened->search(queries, 50).distances == one.search(queries, 50).distances);
}

TEST_CASE("evaluation over a sharded database gives one process's scores") {
  const int bits = 32;
  EncodedSet db, queries;
  db.codes = random_codes(3001, bits, 11, 60);
  queries.codes = random_codes(200, bits, 12, 60);
  std::mt19937 rng(5);
  for (std::size_t i = 0; i < db.codes.size(); ++i) db.labels.push_back(int(rng() % 10));
  for (std::size_t i = 0; i < queries.codes.size(); ++i) queries.labels.push_back(int(rng() % 10));
  const ProtocolResult expected = evaluate_encoded(db, queries, map_at_k_protocol("test"), 1);

  SharedDir dir;
  if (world().rank() == 0) save_encoded_set(queries, dir.file("q.dhc"));
  const EncodedSet broadcast = mpi::broadcast_encoded_set(world(), dir.file("q.dhc"));
  CHECK(broadcast.codes == queries.codes);
  const auto [first, last] = slice_of(db.codes.size(), world().rank(), world().size());
  mpi::EncodedShard shard;
  shard.set.codes = db.codes.slice(first, last);
  shard.set.labels.assign(db.labels.begin() + std::ptrdiff_t(first), db.labels.begin() + std::ptrdiff_t(last));
  shard.first = idx_t(first);
  shard.total = db.codes.size();
  for (const char* kind : {"flat", "mih"}) {
    const ProtocolResult got = mpi::evaluate_sharded(world(), shard, broadcast, "test", kind, 1);
    CHECK(got.scores.map == expected.scores.map);  // exactly: the same rankings
    CHECK(got.scores.average_precision == expected.scores.average_precision);
    CHECK(got.scores.precision == expected.scores.precision);
  }
}

namespace {

// 28 x 28 grey images, as the shipped Fashion-MNIST model takes them.
ImageDataset synthetic_images(std::size_t n, std::uint64_t seed) {
  ImageDataset ds;
  ds.height = ds.width = 28;
  ds.channels = 1;
  ds.class_names = {"a", "b", "c"};
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    ds.labels.push_back(int(i % 3));
    for (int p = 0; p < 28 * 28; ++p) ds.pixels.push_back(std::uint8_t((p / 28 / 10 == int(i % 3) ? 180 : 30) + rng() % 60));
  }
  return ds;
}

// A source whose item `bad` cannot be read (a corrupt image) on rank `bad_rank` only.
class BrokenSource : public MemorySource {
 public:
  BrokenSource(const ImageDataset& ds, std::size_t bad) : MemorySource(ds, "broken"), bad_(bad) {}
  std::unique_ptr<Reader> reader() const override {
    struct Broken : Reader {
      std::unique_ptr<Reader> inner;
      std::size_t bad;
      Image read(std::size_t i, int channels) override {
        if (i == bad) throw Error("broken#" + std::to_string(i), "not a JPEG, PNG or BMP image");
        return inner->read(i, channels);
      }
    };
    auto r = std::make_unique<Broken>();
    r->inner = MemorySource::reader();
    r->bad = bad_;
    return r;
  }

 private:
  std::size_t bad_;
};

}  // namespace

TEST_CASE("a sharded encode is the single-process encode, shard by shard; a failure anywhere writes nothing") {
  const HashingModel model = load_model(std::string(DEEPHASH_SOURCE_DIR) + "/examples/models/fashion-mnist-48bit/model.dhm");
  auto frontend = model.make_frontend(1, "fashion-mnist-48bit");
  const ImageDataset images = synthetic_images(301, 1);
  const auto source = std::make_shared<MemorySource>(images, "synthetic");
  EncodeOptions o;
  o.with_features = true;
  o.batch = 32;
  o.show_progress = false;
  const Provenance provenance{"synthetic", "all", ""};
  const EncodedSet expected = encode_source(*frontend, *source, provenance, o);

  SharedDir dir;
  const std::string out = dir.file("db.dhc");
  const auto mine = mpi::encode_sharded(world(), *frontend, source, provenance, out, o);
  CHECK(mine.count == slice_of(301, world().rank(), world().size()).second - mine.first);
  world().barrier();
  CHECK(is_shard_manifest(out));
  const EncodedSet joined = load_encoded_set(out);
  CHECK(joined.codes == expected.codes);  // bit for bit
  CHECK(joined.labels == expected.labels);
  CHECK(joined.paths == expected.paths);
  CHECK(joined.source == expected.source);
  CHECK(joined.features.rows() == expected.features.rows());
  CHECK((joined.features - expected.features).cwiseAbs().maxCoeff() <= 1e-4f);

  // An unreadable image on the last rank: every rank stops with its message, and the encode
  // above (manifest and shards) stays as it was.
  world().barrier();
  const auto before = std::filesystem::last_write_time(out);
  const std::size_t bad = slice_of(301, world().size() - 1, world().size()).first + 3;
  const auto broken = std::make_shared<BrokenSource>(images, bad);
  const std::string message = shared_error([&] { mpi::encode_sharded(world(), *frontend, broken, provenance, out, o); });
  INFO(message);
  CHECK(message.find("rank " + std::to_string(world().size() - 1) + " of " + std::to_string(world().size())) != std::string::npos);
  CHECK(message.find("broken#" + std::to_string(bad)) != std::string::npos);
  world().barrier();
  CHECK(std::filesystem::last_write_time(out) == before);
  CHECK(load_encoded_set(out).codes == expected.codes);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    CHECK(entry.path().string().find(".staged") == std::string::npos);

  // The ranks must open the same collection.
  const ImageDataset fewer = synthetic_images(world().rank() == 0 ? 300 : 301, 1);
  CHECK(shared_error([&] {
          mpi::encode_sharded(world(), *frontend, std::make_shared<MemorySource>(fewer, "synthetic"), provenance,
                              dir.file("other.dhc"), o);
        }).find("the ranks disagree on the collection's size") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("other.dhc")));
}

TEST_CASE("a missing or corrupt shard and mismatched code lengths stop every rank with the reason") {
  SharedDir dir;
  const std::string out = dir.file("db.dhc");
  // A sharded set written as a sharded encode would.
  if (world().rank() == 0) {
    ShardManifest m;
    m.bits = 16;
    m.total = 90;
    for (int s = 0; s < 3; ++s) {
      EncodedSet part;
      part.codes = random_codes(30, 16, std::uint64_t(s));
      part.labels.assign(30, s);
      save_encoded_set(part, shard_path(out, s, 3));
      m.shards.push_back({std::filesystem::path(shard_path(out, s, 3)).filename().string(), std::uint64_t(30 * s), 30});
    }
    save_shard_manifest(m, out);
  }
  world().barrier();
  CHECK(shared_error([&] { mpi::load_encoded_shard_of_rank(world(), out); }).empty());
  CHECK(load_encoded_set(out).codes.size() == 90);
  world().barrier();  // every rank has read the shards before they are damaged

  if (world().rank() == 0) std::filesystem::remove(shard_path(out, 1, 3));
  world().barrier();
  std::string message = shared_error([&] { mpi::load_encoded_shard_of_rank(world(), out); });
  INFO(message);
  CHECK(message.find(shard_path(out, 1, 3)) != std::string::npos);
  CHECK(message.find("is missing") != std::string::npos);

  if (world().rank() == 0) {
    EncodedSet part;
    part.codes = random_codes(30, 16, 1);
    part.labels.assign(30, 1);
    save_encoded_set(part, shard_path(out, 1, 3));
    std::fstream f(shard_path(out, 1, 3), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  world().barrier();
  message = shared_error([&] { mpi::load_encoded_shard_of_rank(world(), out); });
  CHECK(message.find("checksum mismatch") != std::string::npos);

  // Shards of different code lengths on different ranks.
  auto local = std::make_unique<HammingIndex>(world().rank() == 0 ? 32 : 48, 1);
  message = shared_error([&] { mpi::ShardedIndex index(world(), std::move(local)); });
  CHECK(message.find("the ranks disagree on the code length") != std::string::npos);

  // Queries that differ between ranks.
  const auto index = shard_index(random_codes(100, 32, 1), "flat");
  const BitCodes queries = random_codes(3, 32, std::uint64_t(world().rank()));
  message = shared_error([&] { index->search(queries, 5); });
  CHECK(message.find("every rank must pass the same codes") != std::string::npos);
}

int main(int argc, char** argv) {
  mpi::Environment environment(argc, argv);
  mpi::Communicator comm;
  g_comm = &comm;
  doctest::Context context(argc, argv);
  // Rank 0 speaks for the job; the others report only their failures (doctest prints those).
  if (comm.rank() != 0) context.setOption("success", false);
  const int failed = context.run();
  // Any rank's failure fails the job's exit status on every rank.
  std::uint64_t failures = failed ? 1 : 0;
  comm.allreduce_sum(&failures, 1);
  if (comm.rank() == 0)
    std::printf("%d ranks: %llu failed\n", comm.size(), static_cast<unsigned long long>(failures));
  return failures ? 1 : 0;
}
