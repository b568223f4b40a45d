#pragma once
// A small fork-join pool. deephash parallelises at exactly one level: a search splits the
// database or the queries, a training step splits the batch, and nothing inside a task starts
// threads of its own (Eigen runs single-threaded inside tasks: nesting Eigen's threads in another
// parallel region was measured 10-40x slower on small machines).
//
// Several threads may call parallel_for on one pool at the same time; each call returns when its
// own tasks are done. The caller works on its own tasks too, so a nested call cannot deadlock.

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
#include <thread>
#include <vector>

namespace deephash {

// Threads to use when the caller does not say: DEEPHASH_NUM_THREADS if set, else every core.
inline unsigned default_num_threads() {
  if (const char* env = std::getenv("DEEPHASH_NUM_THREADS")) {
    const long n = std::strtol(env, nullptr, 10);
    if (n > 0) return static_cast<unsigned>(std::min<long>(n, 1024));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: a pool of 1 runs everything inline.
  explicit ThreadPool(unsigned num_threads = default_num_threads()) {
    num_threads = std::max(1u, num_threads);
    workers_.reserve(num_threads - 1);
    for (unsigned i = 1; i < num_threads; ++i) workers_.emplace_back([this] { work(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned num_threads() const { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls task(i) for every i in [0, count), spread over the pool, and returns when all calls
  // have finished. If tasks throw, the first exception is rethrown here after the rest finish.
  template <class Task>
  void parallel_for(std::size_t count, Task&& task) {
    if (count == 0) return;
    if (count == 1 || workers_.empty()) {
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

  void work() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, nothing left
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

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;
  bool stopping_ = false;
};

}  // namespace deephash
