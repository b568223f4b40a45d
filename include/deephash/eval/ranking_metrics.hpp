#pragma once
// Metrics of one ranked list. Three normalisations of average precision exist in the hashing
// literature and give different numbers; each has its own name here so that nobody mixes them.
//
// With rel(i) = 1 when the item at rank i (1-based) is relevant and P(i) = precision at rank i,
// over the first k ranks:
//   RelevantRetrieved  sum rel(i) P(i) / (relevant items in the top k), 0 if none.
//                      The paper's mAP@k (Lin et al. 2015 and its reference MATLAB code).
//   MinRelevantK       sum rel(i) P(i) / min(R, k), R = relevant items in the whole database.
//   AllRelevant        sum rel(i) P(i) / R. Over the full ranking (k = N) this is mAP@all.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "deephash/codes/bit_codes.hpp"

namespace deephash {

enum class ApNormalization { RelevantRetrieved, MinRelevantK, AllRelevant };

inline const char* to_string(ApNormalization n) {
  switch (n) {
    case ApNormalization::RelevantRetrieved: return "relevant-retrieved";
    case ApNormalization::MinRelevantK: return "min-relevant-k";
    case ApNormalization::AllRelevant: return "all-relevant";
  }
  return "?";
}

// AP of the ranked ids[0 .. k) of query q. Ids < 0 (ranks past the database) are not relevant.
template <class Relevance>
double average_precision(const idx_t* ids, std::size_t k, std::size_t q, const Relevance& relevance,
                         ApNormalization normalization) {
  double sum = 0;
  std::size_t hits = 0;
  for (std::size_t i = 0; i < k; ++i)
    if (ids[i] >= 0 && relevance.relevant(q, ids[i])) sum += double(++hits) / double(i + 1);
  double denominator = 0;
  switch (normalization) {
    case ApNormalization::RelevantRetrieved: denominator = double(hits); break;
    case ApNormalization::MinRelevantK: denominator = double(std::min(relevance.total_relevant(q), k)); break;
    case ApNormalization::AllRelevant: denominator = double(relevance.total_relevant(q)); break;
  }
  return denominator > 0 ? sum / denominator : 0.0;
}

// Fraction of the first k ranks that hold a relevant item.
template <class Relevance>
double precision_at(const idx_t* ids, std::size_t k, std::size_t q, const Relevance& relevance) {
  std::size_t hits = 0;
  for (std::size_t i = 0; i < k; ++i) hits += ids[i] >= 0 && relevance.relevant(q, ids[i]);
  return k ? double(hits) / double(k) : 0.0;
}

}  // namespace deephash
