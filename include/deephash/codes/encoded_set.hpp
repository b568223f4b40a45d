#pragma once
// An encoded image set: the codes of a dataset split with what is needed to show results —
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
  std::string dataset, split;      // e.g. "fashion-mnist", "train"
  std::vector<std::string> paths;  // per image, when the images came from files
  RowMatrixXf features;            // n x dim, or empty
};

}  // namespace deephash
