// libFuzzer target: tar archives (ustar, GNU, pax), plain or gzip-compressed.
#include <string>
#include <vector>

#include <deephash/data/gzip.hpp>
#include <deephash/data/tar_archive.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  TarArchive archive(maybe_gunzip(bytes, "fuzz"), "fuzz");
  std::size_t total = 0;
  for (const auto& e : archive.entries()) total += e.size;
  (void)total;
})
