// libFuzzer target: deephash's model files (prototxt text inside).
#include <string>
#include <vector>

#include <deephash/io/container/model_file.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_model(reseal_container(bytes), "fuzz");
})
