#pragma once
// The job a command runs in: one process, or rank r of N started by `mpirun -np N deephash ...`
// (or Slurm's srun). With N > 1, MPI is started for the command's lifetime and the commands that
// run as jobs (encode, eval, train) do their part of the work; the others refuse to run N
// unaware copies. A build without MPI refuses any N > 1.
//
// Failure: an error every rank shares (Collective::agree) is printed by every rank, which then
// exits 1; an error on one rank alone aborts the job (MPI_Abort), so that no other rank waits
// for it. A rank that mpirun terminates because another one died says so before it exits.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include <deephash/core/collective.hpp>
#ifdef DEEPHASH_WITH_MPI
#include <deephash/mpi/communicator.hpp>
#endif

namespace deephash::cli {

class Job {
 public:
  Job(int& argc, char**& argv) : launched_(launched_ranks()) {
#ifdef DEEPHASH_WITH_MPI
    if (launched_ > 1) {
      environment_.emplace(argc, argv);
      communicator_.emplace();
      say_why_when_terminated(communicator_->rank(), communicator_->size());
    }
#else
    (void)argc;
    (void)argv;
#endif
  }

  // Throws unless the command may run here: alone, or as a rank of a job it knows how to share.
  void check_runs_as_job(const std::string& command, bool runs_as_job) const {
    if (launched_ <= 1) return;
#ifndef DEEPHASH_WITH_MPI
    throw Error("deephash " + command, "was started as one of " + std::to_string(launched_) +
                                           " ranks (mpirun), but this build has no MPI: install libopenmpi-dev and "
                                           "rebuild, or run it as one process");
#endif
    if (!runs_as_job)
      throw Error("deephash " + command, "does not run as " + std::to_string(launched_) +
                                             " ranks: run it as one process (encode, eval and train run under mpirun)");
  }

  // Whether the work is shared among several ranks.
  bool sharded() const { return size() > 1; }
  int rank() const { return collective() ? collective()->rank() : 0; }
  int size() const { return collective() ? collective()->size() : 1; }
  // Whether this process prints the results and writes the shared outputs (rank 0).
  bool leads() const { return rank() == 0; }
  Collective* collective() const {
#ifdef DEEPHASH_WITH_MPI
    if (communicator_) return const_cast<mpi::Communicator*>(&*communicator_);
#endif
    return nullptr;
  }
#ifdef DEEPHASH_WITH_MPI
  mpi::Communicator& communicator() { return *communicator_; }
#endif

  // Reports the command's error; the exit status.
  int fail(const std::string& command, const Error& e) {
    const std::string who = sharded() ? " (rank " + std::to_string(rank()) + " of " + std::to_string(size()) + ")" : "";
    std::fprintf(stderr, "\ndeephash %s%s: error: %s\n", command.c_str(), who.c_str(), e.what());
    std::fflush(stderr);
#ifdef DEEPHASH_WITH_MPI
    // Alone with its error, this rank must take the job down: the others may be waiting for it.
    if (sharded() && !dynamic_cast<const SharedError*>(&e)) MPI_Abort(communicator_->handle(), 1);
#endif
    return 1;
  }

 private:
  // mpirun ends the other ranks with SIGTERM when one dies: a line says why, instead of silence.
  // The message is made before any signal can come; the handler only writes it (async-signal-safe).
  static void say_why_when_terminated(int rank, int size) {
    std::snprintf(termination_notice(), kNoticeBytes,
                  "\ndeephash: rank %d of %d: terminated by the launcher (another rank failed, or the job was "
                  "cancelled); what it was writing was not put in place\n",
                  rank, size);
    struct sigaction action {};
    action.sa_handler = [](int signal) {
      const char* notice = termination_notice();
      if (::write(STDERR_FILENO, notice, std::strlen(notice)) < 0) {
      }
      _exit(128 + signal);
    };
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
  }
  static constexpr std::size_t kNoticeBytes = 256;
  // A signal handler reaches nothing but static storage: the one piece of it in the program.
  static char* termination_notice() {
    static char notice[kNoticeBytes];
    return notice;
  }

  int launched_;
#ifdef DEEPHASH_WITH_MPI
  std::optional<mpi::Environment> environment_;
  std::optional<mpi::Communicator> communicator_;
#endif
};

}  // namespace deephash::cli
