// libFuzzer target: the streaming gunzip (GzipFileReader, our own RFC 1951 inflater), read in
// pieces of random sizes, some skipped, checked against gunzip() (stb_image's inflate with
// gzip.hpp's trailer search). The two decoders share nothing but the member header parser, so
// where both accept the data they must give the same bytes, and data that only one of them
// accepts is a finding too: one decoder is wrong about it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <deephash/data/gzip.hpp>
#include <deephash/data/inflate.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

namespace {

[[noreturn]] void disagree(const std::string& what) {
  std::fprintf(stderr, "fuzz_inflate: %s\n", what.c_str());
  std::abort();
}

struct Streamed {
  std::vector<std::uint8_t> bytes;                            // skipped ranges hold zeros
  std::vector<std::pair<std::size_t, std::size_t>> skipped;  // (offset, length)
  std::string error;                                          // empty: read to the end
};

Streamed stream(const std::vector<std::uint8_t>& input) {
  // The piece sizes come from the input's CRC, so that a finding reproduces from the input
  // alone. They are mostly small, so that the reader's 64 KiB chunk and 32 KiB window edges fall
  // inside pieces at many offsets; now and then one piece spans several chunks.
  std::mt19937 rng(crc32(input.data(), input.size()));
  Streamed s;
  try {
    GzipFileReader gz(input.data(), input.size(), "fuzz");
    for (;;) {
      const std::size_t piece = 1 + rng() % (rng() % 8 == 0 ? 100000 : 300);
      const std::size_t at = s.bytes.size();
      s.bytes.resize(at + piece, 0);
      const bool skip = rng() % 4 == 0;
      const std::size_t got = skip ? std::size_t(gz.skip(piece)) : gz.read(s.bytes.data() + at, piece);
      s.bytes.resize(at + got);
      if (skip) s.skipped.emplace_back(at, got);
      if (gz.position() != s.bytes.size()) disagree("position() differs from the bytes handed out");
      if (got < piece) break;
    }
    // Once at the end, the reader stays there.
    std::uint8_t extra = 0;
    if (gz.read(&extra, 1) != 0 || gz.skip(1) != 0) disagree("bytes after the end of the data");
  } catch (const Error& e) {
    s.error = e.what();
  }
  return s;
}

}  // namespace

DEEPHASH_FUZZ_TARGET({
  Streamed s = stream(bytes);
  std::vector<std::uint8_t> whole;
  std::string whole_error;
  try {
    whole = gunzip(bytes, "fuzz");
  } catch (const Error& e) {
    whole_error = e.what();
  }
  // One known difference, left to be settled in gzip.hpp: stb's decoder does not say where the
  // deflate data ends, so gunzip() takes the first 8 bytes (before another member or the end)
  // that match the data's CRC and size as the trailer, and so accepts bytes between the final
  // block and the trailer, which RFC 1952 does not allow and the streaming reader refuses when it
  // reads the trailer where it must be. Only that refusal is let pass here.
  const bool trailer_refused = s.error.find("CRC mismatch") != std::string::npos || s.error.find("ISIZE") != std::string::npos;
  if (whole_error.empty() && trailer_refused) return 0;
  if (s.error.empty() != whole_error.empty())
    disagree(s.error.empty() ? "only the streaming reader accepts the data; gunzip: " + whole_error
                             : "only gunzip accepts the data; the streaming reader: " + s.error);
  if (!s.error.empty()) return 0;
  for (const auto& [at, n] : s.skipped) std::copy_n(whole.begin() + std::ptrdiff_t(at), n, s.bytes.begin() + std::ptrdiff_t(at));
  if (s.bytes != whole)
    disagree("different bytes: " + std::to_string(s.bytes.size()) + " streamed, " + std::to_string(whole.size()) + " from gunzip");
})
