#pragma once
// Scoring encoded sets the paper's way, through the named protocols of eval/protocol.hpp (whose
// checks on the number of queries and database items then run): mAP@k with the paper's
// normalisation and precision@k, after checking that the two sets belong together.

#include <algorithm>
#include <string>
#include <vector>

#include "deephash/codes/encoded_set.hpp"
#include "deephash/eval/protocol.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/workflow/sets.hpp"

namespace deephash {

// The checks that encoded sets (and the models that search them) belong together, for every
// command and binding that puts two of them side by side: search, eval, the sharded evaluation.
// Each throws an Error naming both sides and what differs; each returns notes on what it could
// not check (a set of a file version that did not record its model), for the caller to show.

// Codes of `set` answer queries encoded by the model of digest `model` (model_digest of
// io/container/model_file.hpp) only when that model made them: codes of another model of the same
// length rank by meaningless distances.
inline std::vector<std::string> check_made_by(const EncodedSet& set, const std::string& model, const std::string& set_name,
                                              const std::string& model_name) {
  if (set.model.empty() || model.empty())
    return {set_name + " and " + model_name + ": " + (set.model.empty() ? set_name : model_name) +
            " does not record its model (encoded before sets did): that one model made both is not checked"};
  if (set.model != model)
    throw Error(set_name + " and " + model_name, "were made by different models (model digests " + set.model + " and " + model +
                                                     "): encode the set with " + model_name + ", or search it with its own model");
  return {};
}

namespace detail {

// "" when the lists agree (or one is unknown), else where they first differ.
inline std::string class_list_difference(const std::vector<std::string>& a, const std::vector<std::string>& b,
                                         const std::string& a_name, const std::string& b_name) {
  if (a.empty() || b.empty() || a == b) return "";
  for (std::size_t c = 0; c < std::min(a.size(), b.size()); ++c)
    if (a[c] != b[c])
      return "label " + std::to_string(c) + " is class '" + a[c] + "' in " + a_name + " and '" + b[c] + "' in " + b_name;
  return a_name + " has " + std::to_string(a.size()) + " classes, " + b_name + " " + std::to_string(b.size());
}

}  // namespace detail

// Two encoded sets can be ranked against each other when their codes have one length, were made
// by one model, number their labels by one class list (relevance compares labels) and, if they
// were held out of one set, by one rule into the two roles.
inline std::vector<std::string> check_sets_meet(const EncodedSet& database, const EncodedSet& queries,
                                                const std::string& database_name, const std::string& queries_name) {
  const std::string both = database_name + " and " + queries_name;
  if (database.codes.bits() != queries.codes.bits())
    throw Error(both, "the codes have " + std::to_string(database.codes.bits()) + " and " +
                          std::to_string(queries.codes.bits()) + " bits: encode both with one model");
  std::vector<std::string> notes;
  if (database.model.empty() || queries.model.empty())
    notes.push_back(both + ": " + (database.model.empty() ? database_name : queries_name) +
                    " does not record its model (encoded before sets did): that one model made both is not checked");
  else if (database.model != queries.model)
    throw Error(both, "were encoded by different models (model digests " + database.model + " and " + queries.model +
                          "): encode both with one model");
  const std::string classes = detail::class_list_difference(database.class_names, queries.class_names, database_name, queries_name);
  if (!classes.empty()) throw Error(both, "number their labels by different class lists (" + classes + ")");
  if (!database.source.empty() && database.source == queries.source) {
    if (database.holdout != queries.holdout)
      throw Error(both, "were held out of " + database.source + " by different rules (\"" + database.holdout + "\" and \"" +
                            queries.holdout + "\"): the queries may be in the database");
    if (database.role == queries.role && database.role != "all")
      throw Error(both, "are both the " + database.role + " of " + database.source);
  }
  return notes;
}

// An encoded database must be the database of `sets`, chosen by the same rule, for a query of
// `sets` (encoded by the model of digest `model`) to be searched in it: else ids and the
// query's held-out status would not mean what they seem. Then the checks of two sets that meet.
inline std::vector<std::string> check_database_of(const EncodedSet& db, const RetrievalSets& sets, const std::string& model,
                                                  const std::string& db_name) {
  const Provenance expected = sets.database_provenance();
  if (db.source != expected.source || db.role != expected.role || db.holdout != expected.holdout ||
      db.codes.size() + db.skipped != sets.database->size())
    throw Error(db_name, "holds the " + (db.role.empty() ? std::string("images") : db.role) + " of " +
                             (db.source.empty() ? std::string("an unnamed source") : db.source) +
                             (db.holdout.empty() ? std::string() : " (held out " + db.holdout + ")") + ", not the database of " +
                             expected.source + (expected.holdout.empty() ? std::string() : " (held out " + expected.holdout + ")") +
                             ": encode that with `deephash encode --dataset ...` and the same --queries-per-class");
  const std::string classes =
      detail::class_list_difference(db.class_names, sets.database->class_names(), db_name, expected.source);
  if (!classes.empty()) throw Error(db_name, "numbers its labels by another class list than " + expected.source + " (" + classes + ")");
  return check_sets_meet(db, describe_encoded_set(*sets.queries, sets.queries_provenance(), db.codes.bits(), model), db_name,
                         "the queries of " + sets.queries_spec);
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
