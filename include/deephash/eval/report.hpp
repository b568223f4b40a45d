#pragma once
// What an evaluation run reports: one record per (method, bits), printed as the paper's table
// and written as results.json.

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/atomic_file.hpp"

namespace deephash {

struct ResultRecord {
  std::string method;
  std::string dataset;
  int bits = 0;  // 0 for a method without codes (e.g. Euclidean on raw features)
  double map_at_1000 = 0;
  std::vector<std::pair<idx_t, double>> precision_at_k;
  double train_seconds = 0;
  double eval_seconds = 0;
};

namespace detail {
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}
inline std::string json_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace detail

// A JSON list of records: method, dataset, bits, map_at_1000, precision_at_k (k -> value),
// train_seconds, eval_seconds.
inline std::string results_json(const std::vector<ResultRecord>& records) {
  std::ostringstream out;
  out << "[\n";
  for (std::size_t i = 0; i < records.size(); ++i) {
    const ResultRecord& r = records[i];
    out << "  {\"method\": " << detail::json_string(r.method)
        << ", \"dataset\": " << detail::json_string(r.dataset) << ", \"bits\": " << r.bits
        << ", \"map_at_1000\": " << detail::json_number(r.map_at_1000) << ", \"precision_at_k\": {";
    for (std::size_t j = 0; j < r.precision_at_k.size(); ++j)
      out << (j ? ", " : "") << "\"" << r.precision_at_k[j].first
          << "\": " << detail::json_number(r.precision_at_k[j].second);
    out << "}, \"train_seconds\": " << detail::json_number(r.train_seconds)
        << ", \"eval_seconds\": " << detail::json_number(r.eval_seconds) << "}"
        << (i + 1 < records.size() ? "," : "") << "\n";
  }
  out << "]\n";
  return out.str();
}

inline void write_results_json(const std::vector<ResultRecord>& records, const std::string& path) {
  const std::string text = results_json(records);
  write_file_atomically(path, text.data(), text.size());
}

// The paper's table: one row per method, one mAP column per code length.
inline std::string results_table(const std::vector<ResultRecord>& records) {
  std::vector<int> bits;
  std::vector<std::string> methods;
  std::map<std::pair<std::string, int>, double> map;
  for (const ResultRecord& r : records) {
    if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) methods.push_back(r.method);
    if (r.bits > 0 && std::find(bits.begin(), bits.end(), r.bits) == bits.end()) bits.push_back(r.bits);
    map[{r.method, r.bits}] = r.map_at_1000;
  }
  std::sort(bits.begin(), bits.end());
  std::size_t width = 6;
  for (const auto& m : methods) width = std::max(width, m.size());
  std::ostringstream out;
  char cell[32];
  out << std::string(width, ' ');
  for (int b : bits) {
    std::snprintf(cell, sizeof cell, "  %6d bits", b);
    out << cell;
  }
  out << "\n";
  for (const auto& m : methods) {
    out << m << std::string(width - m.size(), ' ');
    for (int b : bits) {
      auto it = map.find({m, b});
      if (it == map.end()) it = map.find({m, 0});  // a method without codes: same value everywhere
      if (it == map.end())
        std::snprintf(cell, sizeof cell, "  %11s", "-");
      else
        std::snprintf(cell, sizeof cell, "  %11.4f", it->second);
      out << cell;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace deephash
