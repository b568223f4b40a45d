// libFuzzer target: deephash's training snapshots.
#include <string>
#include <vector>

#include <deephash/io/container/model_file.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_snapshot(reseal_container(bytes), "fuzz");
})
