#pragma once
// Helpers of the tests that run the deephash command as a user would: running a command line and
// capturing what it prints, and a tiny dataset in Fashion-MNIST's layout (IDX files).

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace deephash::test {

struct Run {
  int status;
  std::string output;
};

// Runs a shell command line; its exit status and everything it printed (stdout and stderr).
inline Run run_command(const std::string& command_line) {
  const std::string command = command_line + " 2>&1";
  Run r{0, ""};
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline void write_idx(const std::string& path, std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& values) {
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[] = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (std::uint32_t d : dims) {
    const unsigned char be[] = {static_cast<unsigned char>(d >> 24), static_cast<unsigned char>(d >> 16),
                                static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(values.data()), std::streamsize(values.size()));
}

// Ten classes, each a bright bar at its own row, with noise: learnable in a few steps.
inline void write_split(const std::string& dir, const std::string& prefix, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> images, labels;
  for (std::size_t i = 0; i < n; ++i) {
    const int label = int(i % 10);
    labels.push_back(std::uint8_t(label));
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x)
        images.push_back(std::uint8_t((y / 3 == label ? 200 : 20) + rng() % 40));
  }
  write_idx(dir + "/" + prefix + "-images-idx3-ubyte", {std::uint32_t(n), 28, 28}, images);
  write_idx(dir + "/" + prefix + "-labels-idx1-ubyte", {std::uint32_t(n)}, labels);
}


}  // namespace deephash::test
