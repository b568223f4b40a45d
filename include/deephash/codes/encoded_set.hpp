#pragma once
// An encoded image set: the codes of a set of images with what is needed to show results —
// labels, class names, where each image came from — and, optionally, the features for the fine
// (rerank) stage. Saved and loaded by io/container/codes_file.hpp.

#include <string>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/matrix.hpp"

namespace deephash {

struct EncodedSet {
  BitCodes codes;
  std::vector<int> labels;
  std::vector<std::string> class_names;
  // Where the images came from: the source as the user named it (a SPEC of workflow/sets.hpp,
  // e.g. "archive:cifar.tar.gz"), their role there (database, queries, validation or all), and
  // the hold-out rule that chose them from one set ("" when the source's sets were used as they
  // are). Two sets meet (search, eval) only when these agree.
  std::string source, role, holdout;
  // The digest of the model that made the codes (io/container/model_file.hpp's model_digest), ""
  // when unknown (a set of an older file version, a frontend of one's own): sets meet, and a
  // model searches a set, only when these agree.
  std::string model;
  // Items of the source left out as unreadable (workflow/encoding.hpp, skip_unreadable): the set
  // holds the source's other items, in order.
  std::size_t skipped = 0;
  std::vector<std::string> paths;  // per image, a locator that data/locator.hpp's read_image_at reads back
  RowMatrixXf features;            // n x dim, or empty
};

}  // namespace deephash
