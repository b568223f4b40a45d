// libFuzzer target: Caffe prototxt (protobuf text format, V1 and current nets).
#include <string>
#include <vector>

#include <deephash/io/caffe/prototxt.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_caffe_prototxt(std::string(bytes.begin(), bytes.end()), "fuzz");
})
