// libFuzzer target: IDX arrays (MNIST, Fashion-MNIST), plain or gzip-compressed.
#include <string>
#include <vector>

#include <deephash/data/gzip.hpp>
#include <deephash/data/idx.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  const std::vector<std::uint8_t> plain = maybe_gunzip(bytes, "fuzz");
  parse_idx_u8(plain.data(), plain.size(), "fuzz");
})
