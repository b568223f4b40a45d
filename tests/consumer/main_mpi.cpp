// Built against an installed deephash with find_package(deephash COMPONENTS mpi): one sharded
// index over the ranks mpirun gives (one, when run alone), searched.
#include <cstdio>
#include <deephash/mpi/sharded_index.hpp>

int main(int argc, char** argv) {
  using namespace deephash;
  mpi::Environment environment(argc, argv);
  mpi::Communicator world;
  const float activations[] = {0.9f, 0.1f, 0.8f,  0.2f, 0.7f, 0.6f,  0.9f, 0.2f, 0.7f};
  mpi::EncodedShard shard;
  const auto [first, last] = slice_of(3, world.rank(), world.size());
  shard.set.codes = binarize(activations, 3, 3).slice(first, last);
  shard.first = idx_t(first);
  shard.total = 3;
  const auto index = mpi::index_encoded_shards(world, shard, "flat", 1);
  const KnnResult r = index->search(binarize(activations, 1, 3), 2);
  if (world.rank() == 0) std::printf("%d rank(s): nearest %ld, %ld\n", world.size(), long(r.label(0, 0)), long(r.label(0, 1)));
  return r.label(0, 0) == 0 && r.label(0, 1) == 2 ? 0 : 1;
}
