// libFuzzer target: images (JPEG, PNG, BMP) through deephash's checks and stb_image.
#include <string>
#include <vector>

#include <deephash/data/image_decode.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  decode_image(bytes.data(), bytes.size(), "fuzz", 3);
})
