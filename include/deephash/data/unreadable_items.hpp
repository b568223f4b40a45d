#pragma once
// The items of a source that cannot be read and decoded, each with the reason: a `readme.txt`
// among the photos, a truncated JPEG. Encoding stops at the first such item; this pass finds them
// all, so that an error can name every one (instead of one per run) and an encode can leave them
// out (workflow/encoding.hpp, EncodeOptions::skip_unreadable). It reads and decodes every item the
// way BatchStream does, without the network: random-access sources on several threads.

#include <algorithm>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/image_source.hpp"

namespace deephash {

struct UnreadableItem {
  std::size_t item = 0;  // index in the source
  std::string locator;   // where it is
  std::string reason;    // why it cannot be read
};

namespace detail {

// The problem with item i, "" if it reads (and decodes) as `channels` channels.
inline std::string item_problem(ImageSource::Reader& reader, const ImageSource& images, std::size_t i, int channels) {
  try {
    (void)reader.read(i, channels);
    return "";
  } catch (const std::exception& e) {
    // Errors name the file they come from; the listing names it already.
    const std::string locator = images.locator(i), what = e.what();
    return what.rfind(locator + ": ", 0) == 0 ? what.substr(locator.size() + 2) : what;
  }
}

}  // namespace detail

// Every item of `images` that does not read as `channels` channels (0: the source's own), in
// item order. `threads` readers share a random-access source; a sequential one is read in order.
inline std::vector<UnreadableItem> find_unreadable_items(const ImageSource& images, int channels, unsigned threads = 1) {
  const std::size_t n = images.size();
  const std::size_t parts = images.random_access() ? std::max<std::size_t>(1, std::min<std::size_t>(threads, n)) : 1;
  std::vector<std::vector<UnreadableItem>> found(parts);
  std::vector<std::string> failures(parts);  // a reader that cannot even be made
  auto scan = [&](std::size_t part) {
    try {
      const auto reader = images.reader();
      for (std::size_t i = part * n / parts; i < (part + 1) * n / parts; ++i) {
        std::string problem = detail::item_problem(*reader, images, i, channels);
        if (!problem.empty()) found[part].push_back({i, images.locator(i), std::move(problem)});
      }
    } catch (const std::exception& e) {
      failures[part] = e.what();
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t p = 1; p < parts; ++p) workers.emplace_back(scan, p);
  scan(0);
  for (auto& w : workers) w.join();
  for (const auto& f : failures)
    if (!f.empty()) throw Error(images.spec(), f);
  std::vector<UnreadableItem> all;
  for (auto& part : found) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// "3 unreadable images:\n  PATH: REASON\n  ..." for an error or a report.
inline std::string describe_unreadable_items(const std::vector<UnreadableItem>& items) {
  std::string text = std::to_string(items.size()) + " unreadable image" + (items.size() == 1 ? "" : "s") + ":";
  for (const auto& u : items) text += "\n  " + u.locator + ": " + u.reason;
  return text;
}

}  // namespace deephash
