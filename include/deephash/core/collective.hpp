#pragma once
// What work spread over a group of processes needs from the group, without naming the transport:
// the rank and size, sums across the group (gradients, batch-norm moments, losses) and agreement
// on failure. The MPI implementation is deephash/mpi/communicator.hpp; the layers and the
// training loop see only this interface, so that the library builds without MPI, and a test can
// stand a group of threads in for the processes.
//
// Every member is collective: all ranks of the group call it, in the same order, with the same
// sizes. A rank that stops calling (it died, or threw before calling) is the transport's to
// report; deephash's errors are shared through `agree` so that every rank stops with the message.

#include <cstddef>
#include <cstdlib>
#include <string>
#include <utility>

#include "deephash/core/error.hpp"

namespace deephash {

// An error every rank of the group has thrown (Collective::agree): each can stop on its own,
// with the same message, and need not take the others down.
class SharedError : public Error {
 public:
  using Error::Error;
};

// How many ranks the launcher that started this process (mpirun of Open MPI or MPICH, Slurm's
// srun) started, 0 when none did: known from its environment, before any MPI call. A program
// launched as one of several ranks but built without MPI must stop rather than run N copies that
// do not know of each other.
inline int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 0;
}

// The items [begin, end) of `n` that rank `rank` of `ranks` takes: contiguous slices whose sizes
// differ by at most one, the same for every run with the same n and ranks.
inline std::pair<std::size_t, std::size_t> slice_of(std::size_t n, int rank, int ranks) {
  const auto at = [&](int r) { return std::size_t((unsigned __int128)n * unsigned(r) / unsigned(ranks)); };
  return {at(rank), at(rank + 1)};
}

class Collective {
 public:
  virtual ~Collective() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // data[i] = the sum over ranks of data[i], on every rank; the same bits on every rank.
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual void allreduce_sum(double* data, std::size_t n) = 0;

  // Throws SharedError on every rank when `problem` is not empty on any rank: the message names the first
  // failing rank and its problem (and how many failed), so that no rank goes on alone and none
  // waits for a partner that gave up. `what` names the step ("encode", "load shard").
  virtual void agree(const std::string& what, const std::string& problem) = 0;

  // Sums that run while the caller computes: the gradient exchange overlapped with the backward
  // pass (nn/gradient_allreduce.hpp). start_allreduce_sum begins the in-place sum of data[0, n);
  // the data must stay untouched until finish_allreduces() returns, which completes every sum
  // started since the last call. Like the blocking sums they are collective (every rank starts
  // the same sums in the same order, blocking sums may come in between, in the same order too)
  // and give the same bits on every rank. progress() is local, not collective: the caller calls
  // it between pieces of work, so that a transport that advances only inside its own calls (MPI
  // without a progress thread) moves started sums along. The defaults sum at once: correct for
  // any transport, without overlap.
  virtual void start_allreduce_sum(float* data, std::size_t n) { allreduce_sum(data, n); }
  virtual void start_allreduce_sum(double* data, std::size_t n) { allreduce_sum(data, n); }
  virtual void progress() {}
  virtual void finish_allreduces() {}
};

}  // namespace deephash
