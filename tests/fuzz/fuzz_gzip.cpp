// libFuzzer target: gunzip(), in-memory gzip data of one or more members (header fields, our own
// inflate, the trailer checks, the output growing with the bytes that arrive).
#include <string>
#include <vector>

#include <deephash/data/gzip.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  gunzip(bytes, "fuzz");
})
