#pragma once
// Ground truth for retrieval: which database items are relevant to a query. Single-label data
// (CIFAR-10, Fashion-MNIST): same class. Multi-label data (NUS-WIDE style): at least one shared
// label. Both offer the same three calls, which the metrics are written against:
//   relevant(q, id), total_relevant(q), num_queries(), database_size().

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

class SingleLabelRelevance {
 public:
  SingleLabelRelevance(std::vector<int> query_labels, std::vector<int> database_labels)
      : query_(std::move(query_labels)), database_(std::move(database_labels)) {
    int classes = 0;
    for (int l : query_) classes = std::max(classes, check(l) + 1);
    for (int l : database_) classes = std::max(classes, check(l) + 1);
    per_class_.assign(std::size_t(classes), 0);
    for (int l : database_) ++per_class_[std::size_t(l)];
  }

  bool relevant(std::size_t q, idx_t id) const { return query_[q] == database_[std::size_t(id)]; }
  std::size_t total_relevant(std::size_t q) const { return per_class_[std::size_t(query_[q])]; }
  std::size_t num_queries() const { return query_.size(); }
  std::size_t database_size() const { return database_.size(); }

 private:
  static int check(int label) {
    if (label < 0) throw Error("SingleLabelRelevance", "negative label " + std::to_string(label));
    return label;
  }
  std::vector<int> query_, database_;
  std::vector<std::size_t> per_class_;
};

class MultiLabelRelevance {
 public:
  // Each item's labels as a list of non-negative label numbers.
  MultiLabelRelevance(const std::vector<std::vector<int>>& query_labels,
                      const std::vector<std::vector<int>>& database_labels) {
    int labels = 1;
    for (const auto* set : {&query_labels, &database_labels})
      for (const auto& item : *set)
        for (int l : item) {
          if (l < 0) throw Error("MultiLabelRelevance", "negative label " + std::to_string(l));
          labels = std::max(labels, l + 1);
        }
    words_ = std::size_t(words_for_bits(labels));
    query_ = pack(query_labels);
    database_ = pack(database_labels);
    nq_ = query_labels.size();
    n_ = database_labels.size();
  }

  bool relevant(std::size_t q, idx_t id) const {
    const std::uint64_t* a = &query_[q * words_];
    const std::uint64_t* b = &database_[std::size_t(id) * words_];
    for (std::size_t w = 0; w < words_; ++w)
      if (a[w] & b[w]) return true;
    return false;
  }
  // O(database size): call once per query.
  std::size_t total_relevant(std::size_t q) const {
    std::size_t count = 0;
    for (std::size_t i = 0; i < n_; ++i) count += relevant(q, idx_t(i));
    return count;
  }
  std::size_t num_queries() const { return nq_; }
  std::size_t database_size() const { return n_; }

 private:
  std::vector<std::uint64_t> pack(const std::vector<std::vector<int>>& sets) const {
    std::vector<std::uint64_t> bits(sets.size() * words_, 0);
    for (std::size_t i = 0; i < sets.size(); ++i)
      for (int l : sets[i]) bits[i * words_ + std::size_t(l) / 64] |= std::uint64_t(1) << (l % 64);
    return bits;
  }
  std::size_t words_ = 1, nq_ = 0, n_ = 0;
  std::vector<std::uint64_t> query_, database_;
};

}  // namespace deephash
