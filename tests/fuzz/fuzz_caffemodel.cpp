// libFuzzer target: .caffemodel files (protobuf wire format).
#include <string>
#include <vector>

#include <deephash/io/caffe/caffemodel.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_caffemodel(bytes.data(), bytes.size(), "fuzz");
})
