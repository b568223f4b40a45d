#pragma once
// Scoring encoded sets the paper's way, through the named protocols of eval/protocol.hpp (whose
// checks on the number of queries and database items then run): mAP@k with the paper's
// normalisation and precision@k, after checking that the two sets belong together.

#include <string>

#include "deephash/codes/encoded_set.hpp"
#include "deephash/eval/protocol.hpp"
#include "deephash/search/hamming_index.hpp"

namespace deephash {

// Two encoded sets can be ranked against each other when their codes have one length and, if
// they were held out of one set, by one rule into the two roles.
inline void check_sets_meet(const EncodedSet& database, const EncodedSet& queries, const std::string& database_name,
                            const std::string& queries_name) {
  const std::string both = database_name + " and " + queries_name;
  if (database.codes.bits() != queries.codes.bits())
    throw Error(both, "the codes have " + std::to_string(database.codes.bits()) + " and " +
                          std::to_string(queries.codes.bits()) + " bits: encode both with one model");
  if (!database.source.empty() && database.source == queries.source) {
    if (database.holdout != queries.holdout)
      throw Error(both, "were held out of " + database.source + " by different rules (\"" + database.holdout + "\" and \"" +
                            queries.holdout + "\"): the queries may be in the database");
    if (database.role == queries.role && database.role != "all")
      throw Error(both, "are both the " + database.role + " of " + database.source);
  }
}

// The paper's CIFAR-10 protocol for its exact sets (the binary batches' test split against the
// training split), else mAP@1000 on whatever the sets are.
// `database_size`: the whole database's, when `database` holds one shard of it.
inline RetrievalProtocol protocol_for(const EncodedSet& database, const EncodedSet& queries, const std::string& name,
                                      std::size_t database_size = std::size_t(-1)) {
  if (database_size == std::size_t(-1)) database_size = database.codes.size();
  const bool cifar_binary = database.source.rfind("cifar10:", 0) == 0 && queries.source.rfind("cifar10:", 0) == 0 &&
                            database.holdout.empty() && queries.holdout.empty();
  if (cifar_binary && database_size == 50000 && queries.codes.size() == 10000) return cifar10_lin2015_protocol();
  return map_at_k_protocol(name);
}

inline ProtocolResult evaluate_encoded(const EncodedSet& database, const EncodedSet& queries, const RetrievalProtocol& protocol,
                                       unsigned threads = default_num_threads()) {
  check_sets_meet(database, queries, "the database", "the queries");
  HammingIndex index(database.codes.bits(), threads);
  index.add(database.codes);
  return evaluate_protocol(protocol, index, queries.codes, SingleLabelRelevance(queries.labels, database.labels));
}

}  // namespace deephash
