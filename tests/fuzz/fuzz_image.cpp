// libFuzzer target: images through stb_image (JPEG, PNG, BMP, GIF, ...).
#include <string>
#include <vector>

#include <deephash/data/image_decode.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  decode_image(bytes.data(), bytes.size(), "fuzz", 3);
})
