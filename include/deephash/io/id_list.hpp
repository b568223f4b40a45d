#pragma once
// External ids from a text file: one signed 64-bit integer a line, in the order of the codes they
// name (blank lines and surrounding spaces ignored; Windows line ends are fine). Errors name the
// file and the line.

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash {

// The ids of `path`, which must hold exactly `count` of them.
inline std::vector<std::int64_t> read_id_list(const std::string& path, std::size_t count) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the ids file");
  std::vector<std::int64_t> ids;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const std::size_t last = line.find_last_not_of(" \t\r");
    const std::string text = line.substr(first, last - first + 1);
    std::size_t used = 0;
    long long id = 0;
    try {
      id = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size())
      throw Error(path, "line " + std::to_string(number) + ": '" + text + "' is not a 64-bit integer id");
    ids.push_back(std::int64_t(id));
  }
  if (ids.size() != count)
    throw Error(path, "holds " + std::to_string(ids.size()) + " ids for " + std::to_string(count) + " codes");
  return ids;
}

}  // namespace deephash
