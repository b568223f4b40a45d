#pragma once
// A small fork-join pool. deephash parallelises at exactly one level: a search splits the
// database or the queries, a training step splits the batch, and nothing inside a task starts
// threads of its own (Eigen runs single-threaded inside tasks: nesting Eigen's threads in another
// parallel region was measured 10-40x slower on small machines).
//
// Several threads may call parallel_for on one pool at the same time; each call returns when its
// own tasks are done. The caller works on its own tasks too, so a nested call cannot deadlock,
// and a pool may be resized while calls run (several indexes may share one pool, resized as one).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash {

// The most threads a count given by a user may ask for. Not tied to the machine's cores: running
// more threads than cores is legitimate (a container that reports fewer cores than it gets, a
// test of contention), but thousands only cost stacks and scheduling, and a count like 5000 is a
// typo or a unit mistake to report, not a request to serve.
constexpr unsigned kMaxThreads = 1024;

// Refuses a thread count outside 1..kMaxThreads, naming `what` (an option, an argument).
inline unsigned check_num_threads(long long n, const std::string& what) {
  if (n < 1 || n > kMaxThreads)
    throw Error(what, "must be between 1 and " + std::to_string(kMaxThreads) + " threads, got " + std::to_string(n));
  return static_cast<unsigned>(n);
}

// Threads to use when the caller does not say: DEEPHASH_NUM_THREADS if set, else every core.
inline unsigned default_num_threads() {
  if (const char* env = std::getenv("DEEPHASH_NUM_THREADS")) {
    const long n = std::strtol(env, nullptr, 10);
    if (n > 0) return static_cast<unsigned>(std::min<long>(n, kMaxThreads));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: a pool of 1 runs everything inline.
  explicit ThreadPool(unsigned num_threads = default_num_threads()) {
    try {
      resize(num_threads);
    } catch (...) {  // the workers that started must be joined: no destructor runs
      stop();
      throw;
    }
  }

  ~ThreadPool() { stop(); }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned num_threads() const { return threads_.load(); }

  // Changes the number of threads, also while other threads run parallel_for on the pool: a call
  // in progress finishes with the workers that stay (its caller works on it too), later calls use
  // the new count. A worker that leaves first helps finish the call it is working on; resize
  // returns when it has left. Not from inside a task of this pool (it would wait for itself).
  void resize(unsigned num_threads) {
    num_threads = std::max(1u, num_threads);
    std::lock_guard<std::mutex> one_resize_at_a_time(resize_mutex_);
    std::vector<std::thread> leaving;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads_ = num_threads;  // workers numbered num_threads and up leave when they next look for work
      while (workers_.size() + 1 > num_threads) {
        leaving.push_back(std::move(workers_.back()));
        workers_.pop_back();
      }
      // Without workers nobody retires finished jobs; their callers hold their own references.
      if (num_threads == 1) jobs_.clear();
      try {
        while (workers_.size() + 1 < num_threads) {
          const unsigned id = static_cast<unsigned>(workers_.size()) + 1;
          workers_.emplace_back([this, id] { work(id); });
        }
      } catch (...) {  // the system would not start another thread: keep those that started
        threads_ = static_cast<unsigned>(workers_.size()) + 1;
        throw;
      }
    }
    wake_.notify_all();
    for (auto& t : leaving) t.join();
  }

  // Calls task(i) for every i in [0, count), spread over the pool, and returns when all calls
  // have finished. If tasks throw, the first exception is rethrown here after the rest finish.
  template <class Task>
  void parallel_for(std::size_t count, Task&& task) {
    if (count == 0) return;
    if (count == 1 || num_threads() == 1) {
      for (std::size_t i = 0; i < count; ++i) task(i);
      return;
    }
    auto job = std::make_shared<Job>();
    job->task = std::ref(task);
    job->count = count;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(job);
    }
    wake_.notify_all();
    run(*job);
    std::unique_lock<std::mutex> lock(job->mutex);
    job->finished.wait(lock, [&] { return job->done == job->count; });
    if (job->error) std::rethrow_exception(job->error);
  }

  // Splits [0, n) into at most num_threads() contiguous ranges and calls body(begin, end) once
  // per range, in parallel.
  template <class Body>
  void parallel_ranges(std::size_t n, Body&& body) {
    const std::size_t parts = std::min<std::size_t>(n, num_threads());
    parallel_for(parts, [&](std::size_t p) { body(n * p / parts, n * (p + 1) / parts); });
  }

 private:
  struct Job {
    std::function<void(std::size_t)> task;
    std::size_t count = 0;
    std::atomic<std::size_t> next{0};
    std::size_t done = 0;  // guarded by mutex
    std::exception_ptr error;
    std::mutex mutex;
    std::condition_variable finished;
  };

  // Takes indices of `job` until none are left.
  static void run(Job& job) {
    for (;;) {
      const std::size_t i = job.next.fetch_add(1);
      if (i >= job.count) return;
      std::exception_ptr error;
      try {
        job.task(i);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(job.mutex);
      if (error && !job.error) job.error = error;
      if (++job.done == job.count) job.finished.notify_all();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Worker `id` (1, 2, ...: the caller of parallel_for is thread 0).
  void work(unsigned id) {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || id >= threads_ || !jobs_.empty(); });
        if (id >= threads_) return;  // resized away
        if (jobs_.empty()) return;   // stopping, nothing left
        job = jobs_.front();
        // Every index of the front job is handed out: retire it so the next job is seen.
        if (job->next.load() >= job->count) {
          jobs_.pop_front();
          continue;
        }
      }
      run(*job);
    }
  }

  std::vector<std::thread> workers_;  // worker i + 1 at i; changed under mutex_ by resize
  std::atomic<unsigned> threads_{1};  // workers_.size() + 1, read without the lock
  std::mutex mutex_;
  std::mutex resize_mutex_;  // held by resize throughout, joins included
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;
  bool stopping_ = false;
};

}  // namespace deephash
