#pragma once
// deephash::mpi — a group of processes started by mpirun (or srun), as deephash uses it: the
// Collective interface (core/collective.hpp) over an MPI communicator, plus the few exchanges
// the sharded workflows need (broadcast, all-gather of byte strings). Part of the optional
// component deephash::mpi: include it only in programs linked with that target.
//
// Errors: the communicator returns MPI errors (MPI_ERRORS_RETURN) and they become deephash::Error
// naming the call. A deephash error found on one rank is shared with `agree` before any rank
// writes an output, so that every rank stops with the same message. A rank that dies is mpirun's
// to notice: it then terminates the other ranks (docs/SCALING.md, "Faults").

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "deephash/core/collective.hpp"
#include "deephash/core/error.hpp"

namespace deephash::mpi {

inline std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, std::size_t(length));
}

inline void check(int code, const char* call) {
  if (code != MPI_SUCCESS) throw Error(std::string("MPI ") + call, error_text(code));
}

// MPI for the lifetime of the object: initialised (threads may exist, only the main thread calls
// MPI) and finalised. One per process, in main().
class Environment {
 public:
  Environment(int& argc, char**& argv) {
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  ~Environment() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  static bool initialized() {
    int yes = 0;
    MPI_Initialized(&yes);
    return yes != 0;
  }
};

class Communicator : public Collective {
 public:
  // The world of the job by default. The communicator is borrowed, not freed.
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MPI_Comm handle() const { return comm_; }

  void allreduce_sum(float* data, std::size_t n) override { allreduce(data, n, MPI_FLOAT, MPI_SUM); }
  void allreduce_sum(double* data, std::size_t n) override { allreduce(data, n, MPI_DOUBLE, MPI_SUM); }
  void allreduce_sum(std::uint64_t* data, std::size_t n) { allreduce(data, n, MPI_UINT64_T, MPI_SUM); }
  void allreduce_max(std::uint64_t* data, std::size_t n) { allreduce(data, n, MPI_UINT64_T, MPI_MAX); }

  // Sums started without waiting (MPI_Iallreduce), advanced by MPI_Testall when asked (between
  // the layers of a backward pass) and completed by MPI_Waitall: the gradient buckets of
  // data-parallel training overlap the rest of the backward pass as far as the MPI library
  // progresses them inside those calls (nn/gradient_allreduce.hpp).
  void start_allreduce_sum(float* data, std::size_t n) override { start_allreduce(data, n, MPI_FLOAT); }
  void start_allreduce_sum(double* data, std::size_t n) override { start_allreduce(data, n, MPI_DOUBLE); }
  void progress() override {
    if (requests_.empty()) return;
    int done = 0;
    check(MPI_Testall(int(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
  }
  void finish_allreduces() override {
    const int code = MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    requests_.clear();
    check(code, "MPI_Waitall");
  }

  void agree(const std::string& what, const std::string& problem) override {
    std::uint64_t failed = problem.empty() ? 0 : 1;
    allreduce_sum(&failed, 1);
    if (failed == 0) return;
    // Everyone learns the first failing rank's words.
    const std::vector<std::string> problems = allgather(problem);
    for (int r = 0; r < size_; ++r)
      if (!problems[std::size_t(r)].empty()) {
        std::string message = "rank " + std::to_string(r) + " of " + std::to_string(size_) + ": " + problems[std::size_t(r)];
        if (failed > 1) message += " (and " + std::to_string(failed - 1) + " more rank" + (failed > 2 ? "s" : "") + " failed)";
        throw SharedError(what, message);
      }
  }

  void barrier() { check(MPI_Barrier(comm_), "MPI_Barrier"); }

  // root's bytes, on every rank.
  void broadcast(std::vector<std::uint8_t>& bytes, int root = 0) {
    std::uint64_t n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
    bytes.resize(std::size_t(n));
    for (std::size_t done = 0; done < n;) {
      const int piece = int(std::min<std::uint64_t>(n - done, kMaxMessage));
      check(MPI_Bcast(bytes.data() + done, piece, MPI_BYTE, root, comm_), "MPI_Bcast");
      done += std::size_t(piece);
    }
  }

  // Every rank's `bytes` bytes at `mine`, joined in rank order into `joined` on every rank: rank
  // r's at [offsets[r], offsets[r + 1]). `joined` is reused as it is (sized, not reallocated when
  // its capacity suffices): fresh pages cost more than the copy on small machines.
  void allgather(const void* mine, std::size_t bytes, std::vector<std::uint8_t>& joined, std::vector<std::size_t>& offsets) {
    const std::size_t ranks = static_cast<std::size_t>(size_);
    std::vector<std::uint64_t> sizes(ranks, 0);
    sizes[std::size_t(rank_)] = bytes;
    allreduce_sum(sizes.data(), sizes.size());
    offsets.assign(ranks + 1, 0);
    for (std::size_t r = 0; r < ranks; ++r) offsets[r + 1] = offsets[r] + std::size_t(sizes[r]);
    const std::size_t total = offsets[ranks];
    joined.resize(total);
    if (total <= kMaxMessage) {  // one exchange
      std::vector<int> counts(ranks), displacements(ranks);
      for (std::size_t r = 0; r < ranks; ++r) {
        counts[r] = int(sizes[r]);
        displacements[r] = int(offsets[r]);
      }
      check(MPI_Allgatherv(mine, int(bytes), MPI_BYTE, joined.data(), counts.data(), displacements.data(), MPI_BYTE, comm_),
            "MPI_Allgatherv");
      return;
    }
    std::memcpy(joined.data() + offsets[std::size_t(rank_)], mine, bytes);
    for (std::size_t r = 0; r < ranks; ++r)  // past MPI's int counts: one broadcast per rank, in pieces
      for (std::size_t done = 0; done < sizes[r];) {
        const int piece = int(std::min<std::uint64_t>(sizes[r] - done, kMaxMessage));
        check(MPI_Bcast(joined.data() + offsets[r] + done, piece, MPI_BYTE, int(r), comm_), "MPI_Bcast");
        done += std::size_t(piece);
      }
  }
  // The same, one vector per rank.
  std::vector<std::vector<std::uint8_t>> allgather(const std::vector<std::uint8_t>& mine) {
    std::vector<std::uint8_t> joined;
    std::vector<std::size_t> offsets;
    allgather(mine.data(), mine.size(), joined, offsets);
    std::vector<std::vector<std::uint8_t>> all(static_cast<std::size_t>(size_));
    for (std::size_t r = 0; r < all.size(); ++r)
      all[r].assign(joined.begin() + std::ptrdiff_t(offsets[r]), joined.begin() + std::ptrdiff_t(offsets[r + 1]));
    return all;
  }
  std::vector<std::string> allgather(const std::string& mine) {
    const auto all = allgather(std::vector<std::uint8_t>(mine.begin(), mine.end()));
    std::vector<std::string> out;
    for (const auto& bytes : all) out.emplace_back(bytes.begin(), bytes.end());
    return out;
  }

 private:
  // MPI counts are ints: larger buffers go in pieces of at most 1 GiB.
  static constexpr std::uint64_t kMaxMessage = std::uint64_t(1) << 30;

  template <class T>
  void allreduce(T* data, std::size_t n, MPI_Datatype type, MPI_Op op) {
    const std::size_t piece_items = std::size_t(kMaxMessage / sizeof(T));
    for (std::size_t done = 0; done < n;) {
      const int piece = int(std::min(n - done, piece_items));
      check(MPI_Allreduce(MPI_IN_PLACE, data + done, piece, type, op, comm_), "MPI_Allreduce");
      done += std::size_t(piece);
    }
  }

  template <class T>
  void start_allreduce(T* data, std::size_t n, MPI_Datatype type) {
    const std::size_t piece_items = std::size_t(kMaxMessage / sizeof(T));
    for (std::size_t done = 0; done < n;) {
      const int piece = int(std::min(n - done, piece_items));
      requests_.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, data + done, piece, type, MPI_SUM, comm_, &requests_.back()), "MPI_Iallreduce");
      done += std::size_t(piece);
    }
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> requests_;  // sums started and not yet finished
};

}  // namespace deephash::mpi
