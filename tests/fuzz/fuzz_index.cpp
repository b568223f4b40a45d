// libFuzzer target: deephash's index files.
#include <string>
#include <vector>

#include <deephash/io/container/index_file.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_index(reseal_container(bytes), "fuzz", 1);
})
