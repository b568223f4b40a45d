// Data-parallel training over real MPI ranks: run as `mpirun -np N test_data_parallel_mpi`.
// Every rank trains the two small nets of data_parallel_support.hpp for 30 or 100 iterations at one
// global batch and seed; rank 0 also trains them alone, and the ranks' loss curves and weights
// must match its within the tolerances of test_data_parallel.cpp, and each other bit for bit.
// Both with deephash::mpi::Communicator's non-blocking sums (MPI_Iallreduce), which the gradient
// buckets start during the backward pass, and with blocking ones (BlockingSums below). Exits 1
// on every rank on a mismatch. (Throughput: BM_DataParallelTrain in bench/bench_mpi.cpp.)

#include <mpi.h>

#include <cstdio>
#include <string>
#include <vector>

#include <deephash/mpi/communicator.hpp>
#include <deephash/nn/architectures.hpp>

#include "data_parallel_support.hpp"

using namespace deephash;

namespace {

// The communicator with only its blocking sums: Collective's defaults for the started ones.
class BlockingSums : public Collective {
 public:
  explicit BlockingSums(Collective& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void allreduce_sum(float* data, std::size_t n) override { inner_.allreduce_sum(data, n); }
  void allreduce_sum(double* data, std::size_t n) override { inner_.allreduce_sum(data, n); }
  void agree(const std::string& what, const std::string& problem) override { inner_.agree(what, problem); }

 private:
  Collective& inner_;
};

// What is wrong with this rank's run (empty: nothing): against one process (rank 0, which ran
// it) and against rank 0's run, which every rank receives.
std::string check_run(mpi::Communicator& world, const test::TrainingRun& mine, const test::TrainingRun* alone,
                      const std::string& what, test::Tolerance tolerance) {
  // Rank 0's losses and weights on every rank: everyone else adds zeros.
  test::TrainingRun root = mine;
  const bool is_root = world.rank() == 0;
  if (!is_root) std::fill(root.loss.begin(), root.loss.end(), 0.0);
  world.allreduce_sum(root.loss.data(), root.loss.size());
  for (auto& layer : root.weights)
    for (auto& blob : layer.blobs) {
      if (!is_root) std::fill(blob.data.begin(), blob.data.end(), 0.0f);
      world.allreduce_sum(blob.data.data(), blob.data.size());
    }
  std::string problem;
  if (mine.loss != root.loss) problem += what + ": the loss curve differs from rank 0's; ";
  if (!test::difference(mine, root).weights_identical) problem += what + ": the weights differ from rank 0's; ";
  if (alone) {
    const test::RunDifference d = test::difference(mine, *alone);
    std::printf("%s, %d ranks: loss within %.3g, weights within %.3g of one process (tolerances %.0e, %.0e)\n", what.c_str(),
                world.size(), d.loss, d.weights, tolerance.loss, tolerance.weights);
    std::fflush(stdout);
    if (!(d.loss < tolerance.loss)) problem += what + ": the loss curve is off one process's by " + std::to_string(d.loss) + "; ";
    if (!(d.weights < tolerance.weights))
      problem += what + ": the weights are off one process's by " + std::to_string(d.weights) + "; ";
  }
  return problem;
}

// Both nets in one precision: one process (on rank 0) against the group, with blocking and with
// non-blocking sums.
template <class Scalar>
std::string check_precision(mpi::Communicator& world, BlockingSums& blocking_sums, const ImageDataset& images,
                            int batch) {
  const std::string precision = std::is_same<Scalar, float>::value ? " (float)" : " (double)";
  std::string problem;
  for (const auto& [name, spec] : {std::pair<std::string, nn::NetSpec>{"batch norm", test::batch_norm_net(batch)},
                                   std::pair<std::string, nn::NetSpec>{"dropout + SSDH", test::dropout_net(batch)}}) {
    test::TrainingRun alone;
    if (world.rank() == 0) alone = test::train_small<Scalar>(spec, images, batch, test::iterations<Scalar>(spec), nullptr);
    const test::TrainingRun* reference = world.rank() == 0 ? &alone : nullptr;
    const test::TrainingRun blocking = test::train_small<Scalar>(spec, images, batch, test::iterations<Scalar>(spec), &blocking_sums);
    problem += check_run(world, blocking, reference, name + precision + ", blocking sums", test::tolerance<Scalar>(spec));
    const test::TrainingRun overlapped = test::train_small<Scalar>(spec, images, batch, test::iterations<Scalar>(spec), &world);
    problem += check_run(world, overlapped, reference, name + precision + ", non-blocking sums", test::tolerance<Scalar>(spec));
  }
  return problem;
}

int run_tests(mpi::Communicator& world) {
  const int ranks = world.size();
  const int batch = 12 % ranks == 0 ? 12 : 4 * ranks;
  const ImageDataset images = test::fashion_mnist_training_set(600);
  if (images.size() != 600) {
    // Every rank sees the same files: all exit with 77, which mpirun passes on (ctest: skipped).
    if (world.rank() == 0) std::printf("skipped: Fashion-MNIST not found in %s (install dataset-fashion-mnist)\n", default_fashion_mnist_dir().c_str());
    return 77;
  }
  if (world.rank() == 0) std::printf("%d ranks, global batch %d, 30 (batch norm in float) or 100 iterations on the first 600 Fashion-MNIST training images\n", ranks, batch);
  BlockingSums blocking(world);
  std::string problem;
  try {
    problem += check_precision<float>(world, blocking, images, batch);
    problem += check_precision<double>(world, blocking, images, batch);
  } catch (const SharedError&) {
    throw;
  } catch (const std::exception& e) {
    problem += e.what();
  }
  world.agree("test_data_parallel_mpi", problem);
  if (world.rank() == 0) std::printf("every run matched\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment environment(argc, argv);
  mpi::Communicator world;
  try {
    return run_tests(world);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", world.rank(), e.what());
    return 1;
  }
}
