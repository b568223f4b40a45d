#pragma once
// Which files of a folder or archive are images of which class. Items are <root>/<class>/<file>;
// the root is the folder or archive itself, or a subfolder of it: a collection shipped as
// train/<class>/... and test/<class>/... holds two sets, and train/ship and test/ship must not
// merge into one. The rule, the same for folders and archives:
//  - a subfolder given (folder:DIR:train, archive:FILE:train) is the root;
//  - else a single top-level folder holding class folders is the root;
//  - else classes at the top level (<class>/<file>) make the top the root;
//  - several top-level folders holding class folders and no subfolder given is an error that
//    names them.
// Classes sorted by name get labels 0..C-1, files are taken in name order; hidden files (a name
// starting with '.') are skipped.

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/image_folder.hpp"

namespace deephash {

// The items selected from a list of names, sorted by (class, name).
struct ClassSelection {
  std::vector<std::string> class_names;
  std::vector<std::size_t> items;  // indices into the names given
  std::vector<int> labels;         // one per item
};

namespace detail {

inline std::vector<std::string> path_parts(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    const std::string part = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

inline std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s;
}

inline std::string strip_slashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace detail

// The top-level folders T among `names` (archive member paths) that hold class folders, i.e.
// some non-hidden T/<class>/<file>; sorted.
inline std::vector<std::string> class_sets_in_names(const std::vector<std::string>& names) {
  std::set<std::string> sets;
  for (const std::string& name : names) {
    const auto parts = detail::path_parts(name);
    if (parts.size() == 3 && !detail::is_hidden(parts[2])) sets.insert(parts[0]);
  }
  return {sets.begin(), sets.end()};
}

// Applies the rule above to archive member paths; `source` names the archive in errors.
inline ClassSelection select_class_items(const std::vector<std::string>& names, const std::string& subfolder,
                                         const std::string& source) {
  std::vector<std::string> root = detail::path_parts(detail::strip_slashes(subfolder));
  if (subfolder.empty()) {
    const auto sets = class_sets_in_names(names);
    if (sets.size() > 1)
      throw Error(source, "holds several sets of class folders (" + detail::join_names(sets) +
                              "): name the one to read, e.g. " + source + ":" + sets[0]);
    if (sets.size() == 1) root = {sets[0]};
  }
  std::map<std::string, std::vector<std::pair<std::string, std::size_t>>> classes;
  for (std::size_t k = 0; k < names.size(); ++k) {
    const auto parts = detail::path_parts(names[k]);
    if (parts.size() != root.size() + 2 || detail::is_hidden(parts.back())) continue;
    if (!std::equal(root.begin(), root.end(), parts.begin())) continue;
    classes[parts[root.size()]].emplace_back(names[k], k);
  }
  if (classes.empty())
    throw Error(source, subfolder.empty() ? "holds no files in class folders (<class>/<file>)"
                                          : "holds no files in class folders under " + subfolder +
                                                " (" + subfolder + "/<class>/<file>)");
  ClassSelection out;
  for (auto& [class_name, files] : classes) {
    std::sort(files.begin(), files.end());
    const int label = int(out.class_names.size());
    out.class_names.push_back(class_name);
    for (const auto& file : files) {
      out.items.push_back(file.second);
      out.labels.push_back(label);
    }
  }
  return out;
}

namespace detail {

// Whether `dir` has a subfolder holding a (non-hidden) file.
inline bool holds_class_folders(const std::filesystem::path& dir) {
  for (const auto& sub : sorted_entries(dir, /*directories=*/true))
    if (!sorted_entries(sub, /*directories=*/false).empty()) return true;
  return false;
}

}  // namespace detail

// The subfolders of `dir` that hold class folders; sorted.
inline std::vector<std::string> class_sets_in_folder(const std::string& dir) {
  std::vector<std::string> sets;
  for (const auto& sub : detail::sorted_entries(dir, /*directories=*/true))
    if (detail::holds_class_folders(sub)) sets.push_back(sub.filename().string());
  return sets;
}

// The folder whose subfolders are the classes, by the rule above.
inline std::string class_root_folder(const std::string& dir, const std::string& subfolder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(dir, "not a folder (expected one subfolder of images per class)");
  if (!subfolder.empty()) return (std::filesystem::path(dir) / subfolder).string();
  if (detail::holds_class_folders(dir)) return dir;
  const auto sets = class_sets_in_folder(dir);
  if (sets.size() > 1)
    throw Error(dir, "holds several sets of class folders (" + detail::join_names(sets) +
                         "): name the one to read, e.g. " + dir + ":" + sets[0]);
  if (sets.size() == 1) return (std::filesystem::path(dir) / sets[0]).string();
  return dir;  // the reader then says what is missing
}

}  // namespace deephash
