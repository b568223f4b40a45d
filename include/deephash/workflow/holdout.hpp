#pragma once
// The one rule for holding queries (and a validation set) out of a single labelled split, used
// by every command and example (train, encode, eval, search, cifar10_eval) so that a model
// trained by one and scored by another never saw the other's queries.
//
// Within each class, items are taken in source order (a folder's sorted file names, a list
// file's lines, an archive's sorted member names, an IDX file's records). A class of n items
// gives
//   q = min(queries_per_class, floor(n * max_query_fraction))
// queries at the evenly spaced positions floor((j + 1/2) * n / q), j = 0 .. q-1; of the n - q
// items left, v = min(validation_per_class, floor((n - q) * max_validation_fraction)) become
// the validation set by the same spacing. The rest is the training set. The retrieval database
// is everything that is not a query (training + validation), as in the paper, where the
// training images are the database.
//
// Evenly spaced, not random and not "the first N": a class sorted by capture date or file name
// gives queries from its whole range, and the choice does not depend on a seed or a thread
// count. The rule is recorded in every encoded set (describe()), and checked when sets meet.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash {

struct HoldOutRule {
  std::size_t queries_per_class = 1000;  // CIFAR-10's test split has 1000 per class
  double max_query_fraction = 0.2;       // small classes keep 80% as database
  std::size_t validation_per_class = 0;  // 0: no validation set
  double max_validation_fraction = 0.1;

  // A one-line description that names every parameter; stored in encoded sets.
  std::string describe() const {
    char text[200];
    std::snprintf(text, sizeof text, "per class: %zu queries (at most %g of the class), %zu validation (at most %g of the rest), evenly spaced",
                  queries_per_class, max_query_fraction, validation_per_class, max_validation_fraction);
    return text;
  }
};

// Item indices, each list ascending.
struct HeldOutSplit {
  std::vector<std::size_t> queries, validation, training;

  // Everything but the queries: what the queries are ranked against.
  std::vector<std::size_t> database() const {
    std::vector<std::size_t> all;
    all.reserve(validation.size() + training.size());
    std::merge(validation.begin(), validation.end(), training.begin(), training.end(), std::back_inserter(all));
    return all;
  }
};

namespace detail {

// `count` of the `members` at evenly spaced positions; the chosen go to `taken`, the others stay
// in `members`, both in their original order.
inline void take_evenly_spaced(std::vector<std::size_t>& members, std::size_t count, std::vector<std::size_t>& taken) {
  const std::size_t n = members.size();
  if (count == 0 || n == 0) return;
  std::vector<bool> chosen(n, false);
  for (std::size_t j = 0; j < count; ++j) chosen[std::size_t((double(j) + 0.5) * double(n) / double(count))] = true;
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < n; ++i) (chosen[i] ? taken : kept).push_back(members[i]);
  members.swap(kept);
}

}  // namespace detail

// The split of items with these labels (one per item, in source order).
inline HeldOutSplit hold_out(const std::vector<int>& labels, const HoldOutRule& rule) {
  if (!(rule.max_query_fraction >= 0 && rule.max_query_fraction < 1) ||
      !(rule.max_validation_fraction >= 0 && rule.max_validation_fraction < 1))
    throw Error("hold-out rule", "the fractions must lie in [0, 1): " + rule.describe());
  int classes = 0;
  for (int l : labels) {
    if (l < 0) throw Error("hold-out rule", "a negative label (" + std::to_string(l) + ")");
    classes = std::max(classes, l + 1);
  }
  std::vector<std::vector<std::size_t>> members(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < labels.size(); ++i) members[std::size_t(labels[i])].push_back(i);
  HeldOutSplit split;
  for (auto& m : members) {
    const std::size_t q = std::min(rule.queries_per_class, std::size_t(std::floor(double(m.size()) * rule.max_query_fraction)));
    detail::take_evenly_spaced(m, q, split.queries);
    const std::size_t v =
        std::min(rule.validation_per_class, std::size_t(std::floor(double(m.size()) * rule.max_validation_fraction)));
    detail::take_evenly_spaced(m, v, split.validation);
    split.training.insert(split.training.end(), m.begin(), m.end());
  }
  for (auto* list : {&split.queries, &split.validation, &split.training}) std::sort(list->begin(), list->end());
  return split;
}

}  // namespace deephash
