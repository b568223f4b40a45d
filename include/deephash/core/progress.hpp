#pragma once
// A progress bar for long work: fraction done, elapsed time, ETA and a status text (running loss,
// accuracy). On a terminal it redraws one line; in a log it prints a line every 10%.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace deephash {

class ProgressBar {
 public:
  ProgressBar(std::string label, std::size_t total, std::FILE* out = stderr)
      : label_(std::move(label)), total_(total), out_(out), tty_(::isatty(::fileno(out)) != 0),
        start_(Clock::now()) {}

  // Safe to call from several threads; redraws at most every 100 ms on a terminal.
  void update(std::size_t done, const std::string& status = "") {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = done;
    status_ = status;
    const auto now = Clock::now();
    if (tty_) {
      if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
      last_draw_ = now;
      std::fprintf(out_, "\r%s\033[K", line(now).c_str());
    } else {
      const std::size_t decile = total_ ? done * 10 / total_ : 10;
      if (decile <= printed_decile_ && done < total_) return;
      printed_decile_ = decile;
      std::fprintf(out_, "%s\n", line(now).c_str());
    }
    std::fflush(out_);
  }

  // Draws the final state and ends the line.
  void finish(const std::string& status = "") {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!status.empty()) status_ = status;
    done_ = total_;
    if (tty_)
      std::fprintf(out_, "\r%s\033[K\n", line(Clock::now()).c_str());
    else if (printed_decile_ < 10)
      std::fprintf(out_, "%s\n", line(Clock::now()).c_str());
    printed_decile_ = 10;
    std::fflush(out_);
  }

  double elapsed_seconds() const { return seconds(Clock::now() - start_); }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
  static std::string clock_text(double s) {
    char buf[32];
    const long t = long(s + 0.5);
    if (t >= 3600)
      std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
      std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
    return buf;
  }

  std::string line(Clock::time_point now) const {
    constexpr int kWidth = 28;
    const double fraction = total_ ? double(done_) / double(total_) : 1.0;
    const int filled = int(fraction * kWidth + 0.5);
    const double elapsed = seconds(now - start_);
    const std::string eta = fraction > 0 && done_ < total_ ? clock_text(elapsed / fraction - elapsed) : "00:00";
    char head[96];
    std::snprintf(head, sizeof head, " %3d%%  %zu/%zu  %s<%s", int(fraction * 100 + 0.5), done_, total_,
                  clock_text(elapsed).c_str(), eta.c_str());
    return label_ + " [" + std::string(std::size_t(filled), '#') + std::string(std::size_t(kWidth - filled), '.') +
           "]" + head + (status_.empty() ? "" : "  " + status_);
  }

  std::string label_;
  std::size_t total_;
  std::FILE* out_;
  bool tty_;
  Clock::time_point start_, last_draw_{};
  std::size_t done_ = 0, printed_decile_ = 0;
  std::string status_;
  std::mutex mutex_;
};

}  // namespace deephash
