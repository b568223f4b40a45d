// libFuzzer target: deephash's encoded-set files.
#include <string>
#include <vector>

#include <deephash/io/container/codes_file.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_encoded_set(reseal_container(bytes), "fuzz");
})
