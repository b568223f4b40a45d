// libFuzzer target: the gzip decoder (GzipFileReader, our own RFC 1951 inflater), read in pieces
// of random sizes, some skipped, and checked two ways:
//
// - against gunzip(), the same decoder read whole: the same bytes or the same error, whatever
//   the piece sizes;
// - against an independent oracle, stb_image's raw inflate (stbi_zlib_decode_noheader_buffer)
//   on each member's deflate data: where the streaming reader accepts the data, the oracle must
//   accept it too and give the same bytes. The oracle shares only the member header parser.
//
// The oracle is checked in that one direction only. stb's decoder does not say where the
// deflate data ends, so the oracle takes as the trailer the first 8 bytes that match the decoded
// bytes' CRC-32 and size and are followed by the end or another member; it therefore accepts
// stray bytes between the final block and the trailer, which RFC 1952 does not allow and our
// decoder refuses (the fuzzing finding that made gunzip() use our decoder; now a test_data
// regression test). Where only the oracle accepts, there is nothing to compare.
#include <stb_image.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <deephash/data/gzip.hpp>
#include <deephash/data/gzip_header.hpp>
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

// stb's inflate, member after member, with room for `room` bytes of output in all (the streaming
// reader's count, so that more is seen as a difference, not allocated). Returns why it refuses
// the data, or an empty string with the bytes in `out`.
std::string oracle(const std::vector<std::uint8_t>& in, std::size_t room, std::vector<std::uint8_t>& out) {
  if (in.size() > INT_MAX || room >= INT_MAX) return "too large for stb";
  out.assign(room + 1, 0);  // one byte more, to see a member decode to more than was streamed
  std::size_t offset = 0, filled = 0;
  int member = 1;
  do {
    const std::string which = "member " + std::to_string(member) + ": ";
    std::size_t begin = 0;
    try {
      begin = detail::parse_gzip_header(in.data(), in.size(), offset, member, "fuzz");
    } catch (const Error& e) {
      return e.what();
    }
    const int n = stbi_zlib_decode_noheader_buffer(reinterpret_cast<char*>(out.data() + filled), int(out.size() - filled),
                                                   reinterpret_cast<const char*>(in.data() + begin),
                                                   int(in.size() - begin));
    if (n < 0) return which + (stbi_failure_reason() ? stbi_failure_reason() : "?");
    if (filled + std::size_t(n) > room) return which + "more bytes than our decoder gave";
    const std::uint32_t crc = crc32(out.data() + filled, std::size_t(n));
    filled += std::size_t(n);
    // The trailer: the first place with this member's CRC-32 and size, then the end or a member.
    std::size_t at = begin;
    for (; at + detail::kGzipTrailerBytes <= in.size(); ++at) {
      const std::size_t after = at + detail::kGzipTrailerBytes;
      if (detail::load_le32(&in[at]) == crc && detail::load_le32(&in[at + 4]) == std::uint32_t(n) &&
          (after == in.size() || detail::looks_gzip_magic(&in[after], in.size() - after)))
        break;
    }
    if (at + detail::kGzipTrailerBytes > in.size()) return which + "no trailer with the decoded bytes' CRC-32 and size";
    offset = at + detail::kGzipTrailerBytes;
    ++member;
  } while (offset < in.size());
  out.resize(filled);
  return std::string();
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
  if (s.error != whole_error)
    disagree("read in pieces and read whole, the decoder ends differently: \"" + s.error + "\" and \"" +
             whole_error + "\"");
  if (!s.error.empty()) return 0;
  for (const auto& [at, n] : s.skipped) std::copy_n(whole.begin() + std::ptrdiff_t(at), n, s.bytes.begin() + std::ptrdiff_t(at));
  if (s.bytes != whole)
    disagree("different bytes: " + std::to_string(s.bytes.size()) + " streamed, " + std::to_string(whole.size()) + " from gunzip");

  std::vector<std::uint8_t> expected;
  const std::string why = oracle(bytes, whole.size(), expected);
  if (!why.empty()) disagree("only our decoder accepts the data; stb's inflate: " + why);
  if (expected != whole)
    disagree("different bytes: " + std::to_string(whole.size()) + " from our decoder, " +
             std::to_string(expected.size()) + " from stb's inflate");
})
