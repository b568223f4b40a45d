#pragma once
// The one exception type of deephash. Every message names where the problem is (a file, a
// function's argument, a dataset) and what is wrong, so that a user can act on a single line.

#include <stdexcept>
#include <string>
#include <utility>

namespace deephash {

class Error : public std::runtime_error {
 public:
  Error(std::string source, std::string problem)
      : std::runtime_error(source.empty() ? problem : source + ": " + problem),
        source_(std::move(source)),
        problem_(std::move(problem)) {}

  // The file, input or API call the problem was found in.
  const std::string& source() const noexcept { return source_; }
  // What is wrong with it.
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string source_;
  std::string problem_;
};

// Throws Error(source, problem) unless `condition` holds.
inline void require(bool condition, const std::string& source, const std::string& problem) {
  if (!condition) throw Error(source, problem);
}

}  // namespace deephash
