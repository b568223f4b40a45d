#pragma once
// Image datasets laid out as one folder per class (the ImageFolder convention), on disk or in a
// tar archive. Classes sorted by name get labels 0..C-1 and files are taken in name order, so
// the same folder always gives the same dataset; images are decoded in parallel.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/thread_pool.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/image_decode.hpp"
#include "deephash/data/tar_archive.hpp"

namespace deephash {

struct ImageLoadOptions {
  int channels = 3;                          // 1 gray, 3 RGB (2, 4 with alpha); stb converts
  int resize_height = 0, resize_width = 0;   // 0 = keep; all images must then share one size
  unsigned num_threads = 0;                  // decoding threads; 0 = default_num_threads()
};

namespace detail {

inline void check_load_options(const ImageLoadOptions& options, const std::string& source) {
  check_channels(options.channels, source);
  const bool resize = options.resize_height != 0 || options.resize_width != 0;
  if (resize && (options.resize_height <= 0 || options.resize_width <= 0))
    throw Error(source, "resize_height and resize_width must both be positive (or both 0 to keep "
                        "the size), not " + std::to_string(options.resize_height) + " and " +
                        std::to_string(options.resize_width));
}

inline std::string shape_text(int height, int width) {
  return std::to_string(height) + "x" + std::to_string(width);
}

// Decodes the images of `ds` (whose labels and paths are set, one per image) into ds.pixels.
// `bytes_of(i, scratch)` gives image i's encoded bytes as a (pointer, size) pair, reading them
// into `scratch` if they are not in memory. Errors name ds.paths[i]; when `context` is not
// empty, context[i] comes first (a list file's line, say).
template <class BytesOf>
void decode_dataset_images(ImageDataset& ds, const ImageLoadOptions& options,
                           const std::vector<std::string>& context, BytesOf&& bytes_of) {
  const std::size_t n = ds.labels.size();
  const bool resize = options.resize_height > 0;
  ds.channels = options.channels;
  ds.height = resize ? options.resize_height : 0;
  ds.width = resize ? options.resize_width : 0;
  if (n == 0) return;

  auto decode = [&](std::size_t i, std::vector<std::uint8_t>& scratch) {
    try {
      const std::pair<const std::uint8_t*, std::size_t> bytes = bytes_of(i, scratch);
      Image image = decode_image(bytes.first, bytes.second, ds.paths[i], options.channels);
      if (resize) image = resize_image(image, options.resize_height, options.resize_width);
      return image;
    } catch (const Error& e) {
      if (context.empty()) throw;
      throw Error(context[i], e.what());
    }
  };
  auto store = [&](std::size_t i, const Image& image) {
    if (image.height != ds.height || image.width != ds.width) {
      const std::string problem =
          "the image is " + shape_text(image.height, image.width) + " but the first image, " +
          ds.paths[0] + ", is " + shape_text(ds.height, ds.width) +
          "; set ImageLoadOptions::resize_height and resize_width to load images of mixed sizes";
      if (context.empty()) throw Error(ds.paths[i], problem);
      throw Error(context[i], ds.paths[i] + ": " + problem);
    }
    std::memcpy(ds.pixels.data() + i * ds.image_bytes(), image.pixels.data(), ds.image_bytes());
  };

  // The first image fixes the size when there is no resize.
  std::vector<std::uint8_t> scratch;
  const Image first = decode(0, scratch);
  ds.height = first.height;
  ds.width = first.width;
  ds.pixels.resize(n * ds.image_bytes());
  store(0, first);

  ThreadPool pool(options.num_threads ? options.num_threads : default_num_threads());
  constexpr std::size_t kImagesPerTask = 64;
  const std::size_t tasks = (n - 1 + kImagesPerTask - 1) / kImagesPerTask;
  std::atomic<bool> failed{false};  // stops the other tasks early: only one error is reported
  pool.parallel_for(tasks, [&](std::size_t t) {
    std::vector<std::uint8_t> task_scratch;
    const std::size_t begin = 1 + t * kImagesPerTask, end = std::min(n, begin + kImagesPerTask);
    for (std::size_t i = begin; i < end && !failed.load(std::memory_order_relaxed); ++i) {
      try {
        store(i, decode(i, task_scratch));
      } catch (...) {
        failed = true;
        throw;
      }
    }
  });
}

inline bool is_hidden(const std::string& file_name) { return !file_name.empty() && file_name[0] == '.'; }

// The entries of a directory of the wanted kind, sorted by name; hidden ones (.DS_Store, ...)
// are skipped.
inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir,
                                                         bool directories) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  if (ec) throw Error(dir.string(), "cannot list the folder (" + ec.message() + ")");
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error(dir.string(), "cannot list the folder (" + ec.message() + ")");
    const std::filesystem::path& path = it->path();
    if (is_hidden(path.filename().string())) continue;
    std::error_code type_ec;
    const bool wanted = directories ? it->is_directory(type_ec) : it->is_regular_file(type_ec);
    if (wanted) out.push_back(path);
  }
  if (ec) throw Error(dir.string(), "cannot list the folder (" + ec.message() + ")");
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.filename().string() < b.filename().string();
  });
  return out;
}

}  // namespace detail

namespace detail {

// The files of root/<class>/<file>, class by class in name order; or, for a folder of files and
// no class subfolders (photos to search, say), its files as one class named after the folder.
inline void list_class_folder(const std::string& root, std::vector<std::string>& paths, std::vector<int>& labels,
                              std::vector<std::string>& class_names) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec))
    throw Error(root, "not a folder (expected image files, or one subfolder of images per class)");
  for (const auto& class_dir : sorted_entries(root, /*directories=*/true)) {
    const int label = static_cast<int>(class_names.size());
    class_names.push_back(class_dir.filename().string());
    for (const auto& file : sorted_entries(class_dir, /*directories=*/false)) {
      paths.push_back(file.string());
      labels.push_back(label);
    }
  }
  if (class_names.empty()) {
    for (const auto& file : sorted_entries(root, /*directories=*/false)) {
      paths.push_back(file.string());
      labels.push_back(0);
    }
    if (paths.empty()) throw Error(root, "holds neither image files nor class subfolders");
    class_names.push_back(std::filesystem::path(root).lexically_normal().filename().string());
    if (class_names.back().empty()) class_names.back() = std::filesystem::path(root).lexically_normal().parent_path().filename().string();
  }
  if (labels.empty()) throw Error(root, "the class subfolders hold no files");
}

}  // namespace detail

// A folder with one subfolder per class: root/<class>/<image file> (files directly in root and
// folders nested inside class folders are not read); or a folder of image files only, one class.
// Hidden files and folders are skipped.
inline ImageDataset load_image_folder(const std::string& root, const ImageLoadOptions& options = {}) {
  detail::check_load_options(options, root);
  ImageDataset ds;
  detail::list_class_folder(root, ds.paths, ds.labels, ds.class_names);
  detail::decode_dataset_images(ds, options, {}, [&](std::size_t i, std::vector<std::uint8_t>& scratch) {
    scratch = read_file_bytes(ds.paths[i]);
    return std::pair<const std::uint8_t*, std::size_t>(scratch.data(), scratch.size());
  });
  return ds;
}

// The same from a tar archive (gzip-compressed or not) whose files are <anything>/<class>/<file>:
// the class is each file's parent folder. Files at the top level and hidden files are skipped.
// paths are "<tar_path>:<entry name>".
inline ImageDataset load_image_archive(const std::string& tar_path, const ImageLoadOptions& options = {}) {
  detail::check_load_options(options, tar_path);
  const TarArchive archive = TarArchive::read(tar_path);
  // class name -> (entry name, entry index), both sorted by name
  std::map<std::string, std::vector<std::pair<std::string, std::size_t>>> classes;
  const auto& entries = archive.entries();
  for (std::size_t e = 0; e < entries.size(); ++e) {
    const std::string& name = entries[e].name;
    const auto slash = name.rfind('/');
    if (slash == std::string::npos || detail::is_hidden(name.substr(slash + 1))) continue;
    const std::string folder = name.substr(0, slash);
    const auto parent_slash = folder.rfind('/');
    const std::string class_name =
        parent_slash == std::string::npos ? folder : folder.substr(parent_slash + 1);
    if (class_name.empty() || class_name == ".") continue;
    classes[class_name].emplace_back(name, e);
  }
  if (classes.empty())
    throw Error(tar_path, "holds no files in class folders (<class>/<file>)");

  ImageDataset ds;
  std::vector<std::size_t> entry_of;  // image -> entry index
  for (auto& [class_name, files] : classes) {
    std::sort(files.begin(), files.end());
    const int label = static_cast<int>(ds.class_names.size());
    ds.class_names.push_back(class_name);
    for (const auto& [name, e] : files) {
      ds.paths.push_back(tar_path + ":" + name);
      ds.labels.push_back(label);
      entry_of.push_back(e);
    }
  }
  detail::decode_dataset_images(ds, options, {}, [&](std::size_t i, std::vector<std::uint8_t>&) {
    const TarEntry& entry = entries[entry_of[i]];
    return std::pair<const std::uint8_t*, std::size_t>(entry.data, entry.size);
  });
  return ds;
}

}  // namespace deephash
