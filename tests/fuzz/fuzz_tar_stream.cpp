// libFuzzer target: TarStream over a plain tar in memory, members listed, some read and the
// others skipped, checked against TarArchive. The two share the header parser but walk the
// archive differently (a stream that skips and reads in pieces, a buffer checked up front), so
// they must list the same members with the same data, or both refuse the archive.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <deephash/data/file_stream.hpp>
#include <deephash/data/tar_archive.hpp>
#include <deephash/data/tar_stream.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

namespace {

[[noreturn]] void disagree(const std::string& what) {
  std::fprintf(stderr, "fuzz_tar_stream: %s\n", what.c_str());
  std::abort();
}

}  // namespace

DEEPHASH_FUZZ_TARGET({
  std::vector<TarStreamMember> members;
  std::vector<std::vector<std::uint8_t>> data;  // empty for the members skipped
  std::string stream_error;
  try {
    TarStream tar(std::make_unique<MemoryStream>(bytes.data(), bytes.size(), "fuzz"));
    TarStreamMember m;
    while (tar.next(m)) {
      members.push_back(m);
      data.emplace_back();
      // Which members are read follows their names (which the fuzzer mutates), so that reads
      // and skips mix in every order; each is read whatever size its header declares.
      if (m.name.size() % 2 == 0) tar.read_data(data.back());
    }
    if (!tar.at_end()) disagree("next() returned false before the end of the archive");
  } catch (const Error& e) {
    stream_error = e.what();
  }
  std::unique_ptr<TarArchive> archive;
  std::string archive_error;
  try {
    archive = std::make_unique<TarArchive>(bytes, "fuzz");
  } catch (const Error& e) {
    archive_error = e.what();
  }
  if (stream_error.empty() != archive_error.empty())
    disagree(stream_error.empty() ? "only TarStream accepts the archive; TarArchive: " + archive_error
                                  : "only TarArchive accepts the archive; TarStream: " + stream_error);
  if (!stream_error.empty()) return 0;
  const auto& entries = archive->entries();
  if (entries.size() != members.size()) disagree("different member counts");
  for (std::size_t i = 0; i < members.size(); ++i) {
    const TarEntry& e = entries[i];
    const TarStreamMember& m = members[i];
    if (m.name != e.name || m.size != e.size || m.ordinal != i) disagree("member " + std::to_string(i) + " differs");
    const std::vector<std::uint8_t> expected(e.data, e.data + e.size);
    // A plain archive's member offset is where its data lies in the file (what pread uses later).
    if (m.offset > bytes.size() || m.size > bytes.size() - m.offset ||
        !std::equal(expected.begin(), expected.end(), bytes.begin() + std::ptrdiff_t(m.offset)))
      disagree("member " + std::to_string(i) + "'s offset does not point at its data");
    if (m.name.size() % 2 == 0 && data[i] != expected) disagree("member " + std::to_string(i) + "'s data differs");
  }
})
