#pragma once
// A group of threads of one process standing in for the ranks of an MPI job (deephash::Collective),
// so that data-parallel code is tested without MPI: ThreadGroup::run starts one thread per rank
// and hands each its ThreadGroupCollective.
//
// Sums are computed in rank order by every rank ((d0 + d1) + d2 ...), so every rank gets the same
// bits, as the Collective contract asks. With `deferred_sums`, start_allreduce_sum only records
// the sum and finish_allreduces performs the recorded ones in order: data read or written
// between the two shows up as a wrong result, as it would with a real non-blocking transport.
// Calls that differ between ranks (sizes, types, order) are reported as an error on every rank.
// A rank that throws makes the others' next collective call throw too, so a failing test ends
// instead of hanging; run() rethrows the exception of the rank that failed first.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "deephash/core/collective.hpp"

namespace deephash::test {

class ThreadGroup;

class ThreadGroupCollective : public Collective {
 public:
  ThreadGroupCollective(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override;
  void allreduce_sum(float* data, std::size_t n) override { sum(data, n); }
  void allreduce_sum(double* data, std::size_t n) override { sum(data, n); }
  void agree(const std::string& what, const std::string& problem) override;
  void start_allreduce_sum(float* data, std::size_t n) override { start(data, n); }
  void start_allreduce_sum(double* data, std::size_t n) override { start(data, n); }
  void progress() override { ++progress_calls; }
  void finish_allreduces() override {
    std::vector<Pending> pending;
    pending.swap(pending_);
    for (Pending& p : pending) p.run();
  }

  // What the tests look at: how often progress() was called, and when each started sum began
  // (the progress count at that moment).
  std::size_t progress_calls = 0;
  std::vector<std::size_t> started_at_progress;

 private:
  struct Pending {
    std::function<void()> run;
  };
  template <class T>
  void sum(T* data, std::size_t n);
  template <class T>
  void start(T* data, std::size_t n);

  ThreadGroup& group_;
  int rank_;
  std::vector<Pending> pending_;
};

class ThreadGroup {
 public:
  explicit ThreadGroup(int size, bool deferred_sums = false)
      : size_(size), deferred_(deferred_sums), posted_(std::size_t(size)), problems_(std::size_t(size)) {}

  int size() const { return size_; }
  bool deferred() const { return deferred_; }

  // body(collective) on one thread per rank; returns when all are done, rethrowing the exception
  // of the rank that failed first, if any did.
  void run(const std::function<void(ThreadGroupCollective&)>& body) {
    aborted_ = false;
    first_failed_ = -1;
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size_));
    std::vector<std::thread> threads;
    for (int r = 0; r < size_; ++r)
      threads.emplace_back([&, r] {
        ThreadGroupCollective collective(*this, r);
        try {
          body(collective);
        } catch (...) {
          errors[std::size_t(r)] = std::current_exception();
          abort(r);
        }
      });
    for (auto& t : threads) t.join();
    if (first_failed_ >= 0) std::rethrow_exception(errors[std::size_t(first_failed_)]);
  }

 private:
  friend class ThreadGroupCollective;

  // What a rank brings to the collective call in progress.
  struct Post {
    const void* data = nullptr;
    std::size_t n = 0;
    int type = 0;  // 1 float, 2 double
  };

  void abort(int rank) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!aborted_) first_failed_ = rank;
    aborted_ = true;
    changed_.notify_all();
  }

  // Waits until every rank has arrived; throws if a rank gave up.
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (aborted_) throw std::runtime_error("another rank of the thread group failed");
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
      return;
    }
    changed_.wait(lock, [&] { return generation_ != generation || aborted_; });
    if (generation_ == generation) throw std::runtime_error("another rank of the thread group failed");
  }

  const int size_;
  const bool deferred_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  bool aborted_ = false;
  int first_failed_ = -1;
  std::vector<Post> posted_;
  std::vector<std::string> problems_;
};

inline int ThreadGroupCollective::size() const { return group_.size(); }

template <class T>
void ThreadGroupCollective::sum(T* data, std::size_t n) {
  constexpr int type = sizeof(T) == sizeof(float) ? 1 : 2;
  group_.posted_[std::size_t(rank_)] = {data, n, type};
  group_.barrier();
  for (const ThreadGroup::Post& p : group_.posted_)
    if (p.n != n || p.type != type) {
      group_.barrier();  // every rank sees the same mismatch and leaves together
      throw std::logic_error("thread group: the ranks' sums differ in size or type (rank " + std::to_string(rank_) + ": " +
                             std::to_string(n) + ")");
    }
  std::vector<T> total(n, T(0));
  for (const ThreadGroup::Post& p : group_.posted_) {
    const T* from = static_cast<const T*>(p.data);
    for (std::size_t i = 0; i < n; ++i) total[i] += from[i];
  }
  group_.barrier();  // every rank has read every input: now each may overwrite its own
  std::copy(total.begin(), total.end(), data);
}

template <class T>
void ThreadGroupCollective::start(T* data, std::size_t n) {
  started_at_progress.push_back(progress_calls);
  if (!group_.deferred()) return sum(data, n);
  pending_.push_back({[this, data, n] { sum(data, n); }});
}

inline void ThreadGroupCollective::agree(const std::string& what, const std::string& problem) {
  group_.problems_[std::size_t(rank_)] = problem;
  group_.barrier();
  std::string message;
  int failed = 0;
  for (int r = 0; r < group_.size(); ++r)
    if (!group_.problems_[std::size_t(r)].empty() && failed++ == 0)
      message = "rank " + std::to_string(r) + " of " + std::to_string(group_.size()) + ": " + group_.problems_[std::size_t(r)];
  group_.barrier();
  if (failed == 0) return;
  if (failed > 1) message += " (and " + std::to_string(failed - 1) + " more)";
  throw SharedError(what, message);
}

}  // namespace deephash::test
