// libFuzzer target: gzip members (the inflate of stb_image, the header and trailer checks).
#include <string>
#include <vector>

#include <deephash/data/gzip.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  gunzip(bytes, "fuzz");
})
