// libFuzzer target: Caffe list files ("path label" lines).
#include <string>
#include <vector>

#include <deephash/data/image_list.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_image_list(std::string(bytes.begin(), bytes.end()), "fuzz");
})
