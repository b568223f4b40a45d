#pragma once
// Named evaluation protocols, so that a reported number says exactly how it was measured.

#include <chrono>
#include <string>
#include <vector>

#include "deephash/eval/hamming_ranking.hpp"

namespace deephash {

struct RetrievalProtocol {
  std::string name;
  std::size_t num_queries = 0;    // 0: any number
  std::size_t database_size = 0;  // 0: any size
  idx_t top_k = 1000;
  ApNormalization normalization = ApNormalization::RelevantRetrieved;
  std::string description;
};

// Lin et al., CVPR Workshops 2015, CIFAR-10: the 10,000 test images query the 50,000 training
// images; mAP over the top 1000 divided by the relevant items found there; ties in database order.
inline RetrievalProtocol cifar10_lin2015_protocol() {
  return {"cifar10-lin2015", 10000, 50000, 1000, ApNormalization::RelevantRetrieved,
          "CIFAR-10: 10,000 test queries against the 50,000 training images, mAP@1000 "
          "(AP divided by the relevant items in the top 1000), ties in database order"};
}

// The same scoring on any split: e.g. Fashion-MNIST's 10,000 test images against its 60,000
// training images, or held-out parts of a training set while developing.
inline RetrievalProtocol map_at_k_protocol(const std::string& name, idx_t k = 1000) {
  return {name, 0, 0, k, ApNormalization::RelevantRetrieved,
          "mAP@" + std::to_string(k) + " (AP divided by the relevant items in the top " +
              std::to_string(k) + "), ties in database order"};
}

struct ProtocolResult {
  RetrievalProtocol protocol;
  RankingScores scores;
  double seconds = 0;  // search and scoring
};

inline ProtocolResult evaluate_protocol(const RetrievalProtocol& protocol, const BinaryIndex& database,
                                 const BitCodes& queries, const SingleLabelRelevance& relevance) {
  if (protocol.num_queries && queries.size() != protocol.num_queries)
    throw Error(protocol.name, "the protocol has " + std::to_string(protocol.num_queries) +
                                   " queries, got " + std::to_string(queries.size()));
  if (protocol.database_size && std::size_t(database.size()) != protocol.database_size)
    throw Error(protocol.name, "the protocol's database has " +
                                   std::to_string(protocol.database_size) + " items, got " +
                                   std::to_string(database.size()));
  const auto start = std::chrono::steady_clock::now();
  ProtocolResult r{protocol,
                   evaluate_hamming_ranking(database, queries, relevance, protocol.top_k,
                                            protocol.normalization),
                   0};
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace deephash
