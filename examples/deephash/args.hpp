#pragma once
// Command-line options of the form --name value, --name=value and --flag.

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <deephash/core/error.hpp>

namespace deephash::cli {

class Args {
 public:
  Args() = default;
  // argv[first ..] holds the options of `command` (for error messages).
  Args(std::string command, int argc, char** argv, int first) : command_(std::move(command)) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        positional_.push_back(a);
        continue;
      }
      a = a.substr(2);
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        values_[a.substr(0, eq)] = a.substr(eq + 1);
      } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[a] = argv[++i];
      } else {
        values_[a] = "";
      }
    }
  }

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool help() const { return has("help") || has("h"); }

  std::string get(const std::string& name, const std::string& fallback = "") const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  std::string required(const std::string& name) const {
    if (!has(name) || get(name).empty()) throw Error(command_, "--" + name + " is required");
    return get(name);
  }
  long get_int(const std::string& name, long fallback) const {
    if (!has(name)) return fallback;
    char* end = nullptr;
    const std::string v = get(name);
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') throw Error(command_, "--" + name + " expects an integer, got '" + v + "'");
    return n;
  }
  double get_double(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    char* end = nullptr;
    const std::string v = get(name);
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') throw Error(command_, "--" + name + " expects a number, got '" + v + "'");
    return x;
  }
  // A comma-separated list of integers, e.g. --bits 12,32,48.
  std::vector<int> get_int_list(const std::string& name, std::vector<int> fallback) const {
    if (!has(name)) return fallback;
    std::vector<int> out;
    std::stringstream in(get(name));
    std::string item;
    while (std::getline(in, item, ',')) {
      char* end = nullptr;
      const long n = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0')
        throw Error(command_, "--" + name + " expects comma-separated integers, got '" + get(name) + "'");
      out.push_back(int(n));
    }
    return out;
  }
  const std::vector<std::string>& positional() const { return positional_; }

  // Refuses options the command does not know, so that a typo is not silently ignored.
  void allow_only(const std::set<std::string>& known) const {
    for (const auto& [name, value] : values_)
      if (!known.count(name) && name != "help" && name != "h")
        throw Error(command_, "unknown option --" + name + " (see " + command_ + " --help)");
  }

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace deephash::cli
