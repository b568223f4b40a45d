// libFuzzer target: CIFAR-10 binary batches.
#include <string>
#include <vector>

#include <deephash/data/cifar10.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  parse_cifar10_batch(bytes.data(), bytes.size(), "fuzz");
})
