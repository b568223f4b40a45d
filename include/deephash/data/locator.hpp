#pragma once
// Reading back one image by the locator a source recorded for it (ImageSource::locator), on
// its own, later, in another process:
//   "<file>"                       an image file;
//   "<archive>:<member path>"      a member of a .tar or .tar.gz (a .tar.gz is streamed up to it);
//   "<file>#<N>"                   record N of an IDX images file or a CIFAR-10 batch.
// An existing file named by the whole locator always wins, so names holding ':' or '#' read as
// files. read_images_at reads many locators, each archive in one pass (retrieval grids).

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/file_stream.hpp"
#include "deephash/data/image_decode.hpp"
#include "deephash/data/sources/cifar_source.hpp"
#include "deephash/data/sources/idx_source.hpp"
#include "deephash/data/tar_stream.hpp"

namespace deephash {

namespace detail {

inline bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// "<file>#<N>": the file and N, when the file exists and N is a number.
inline bool split_record_locator(const std::string& locator, std::string& file, std::size_t& record) {
  const auto hash = locator.rfind('#');
  if (hash == std::string::npos || hash + 1 == locator.size() || hash + 20 < locator.size()) return false;
  std::size_t n = 0;
  for (std::size_t i = hash + 1; i < locator.size(); ++i) {
    if (locator[i] < '0' || locator[i] > '9') return false;
    n = n * 10 + std::size_t(locator[i] - '0');
  }
  file = locator.substr(0, hash);
  record = n;
  return is_file(file);
}

// "<archive>:<member>": the first ':' whose left side is an existing file.
inline bool split_member_locator(const std::string& locator, std::string& archive, std::string& member) {
  for (auto colon = locator.find(':'); colon != std::string::npos; colon = locator.find(':', colon + 1)) {
    if (colon + 1 < locator.size() && is_file(locator.substr(0, colon))) {
      archive = locator.substr(0, colon);
      member = locator.substr(colon + 1);
      return true;
    }
  }
  return false;
}

// A CIFAR-10 batch is a whole number of 3073-byte records; an IDX file starts with two zeros.
inline Image read_record(const std::string& file, std::size_t record, int channels) {
  std::uint8_t head[2] = {1, 1};
  {
    auto in = open_byte_stream(file);
    in->read(head, 2);
  }
  if (head[0] == 0 && head[1] == 0) return read_idx_record(file, record, channels);
  return deephash::read_cifar10_record(file, record, channels);
}

}  // namespace detail

// The image a locator names; channels 0: the stored ones (3 for encoded files, 1 for IDX).
inline Image read_image_at(const std::string& locator, int channels = 0) {
  if (detail::is_file(locator)) return read_image(locator, channels ? channels : 3);
  std::string file, member;
  std::size_t record = 0;
  if (detail::split_record_locator(locator, file, record)) return detail::read_record(file, record, channels);
  if (detail::split_member_locator(locator, file, member)) {
    TarStream tar(file);
    TarStreamMember m;
    while (tar.next(m)) {
      if (m.name != member) continue;
      std::vector<std::uint8_t> bytes;
      tar.read_data(bytes);
      return decode_image(bytes.data(), bytes.size(), locator, channels ? channels : 3);
    }
    throw Error(locator, "no member " + member + " in the archive " + file);
  }
  throw Error(locator, "no such file, archive member or record (expected FILE, ARCHIVE:MEMBER or FILE#N)");
}

// The images of several locators, in their order; the members of one archive are read in a
// single pass over it (a .tar.gz is inflated once, not once per image).
inline std::vector<Image> read_images_at(const std::vector<std::string>& locators, int channels = 0) {
  std::vector<Image> out(locators.size());
  std::map<std::string, std::multimap<std::string, std::size_t>> wanted;  // archive -> member -> position
  for (std::size_t k = 0; k < locators.size(); ++k) {
    std::string file, member;
    std::size_t record = 0;
    if (!detail::is_file(locators[k]) && !detail::split_record_locator(locators[k], file, record) &&
        detail::split_member_locator(locators[k], file, member))
      wanted[file].emplace(member, k);
    else
      out[k] = read_image_at(locators[k], channels);
  }
  for (auto& [archive, members] : wanted) {
    TarStream tar(archive);
    TarStreamMember m;
    std::vector<std::uint8_t> bytes;
    while (!members.empty() && tar.next(m)) {
      auto range = members.equal_range(m.name);
      if (range.first == range.second) continue;
      tar.read_data(bytes);
      for (auto it = range.first; it != range.second; ++it)
        out[it->second] = decode_image(bytes.data(), bytes.size(), locators[it->second], channels ? channels : 3);
      members.erase(range.first, range.second);
    }
    if (!members.empty())
      throw Error(locators[members.begin()->second], "no member " + members.begin()->first + " in the archive " + archive);
  }
  return out;
}

}  // namespace deephash
