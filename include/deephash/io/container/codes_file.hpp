#pragma once
// Saving and loading an EncodedSet (codes/encoded_set.hpp). Container kind "CODE".
// Version 3 (written), little-endian:
//   u32 bits, u64 n, u32 dim (0: no features), string source, string role, string holdout,
//   string model (the digest of the model that made the codes, "" when unknown),
//   u64 skipped (items of the source left out as unreadable),
//   u32 m + string[m] class names, i32[n] labels, u32 p (0 or n) + string[p] locators,
//   then the images in chunks of kChunkItems (the last may be shorter), each chunk:
//   its codes (ceil(bits/64) u64 words each), then its features (dim f32 each).
// Everything before the chunks is known before encoding starts, and each chunk holds codes and
// features of the same images, so EncodedSetWriter streams a set to disk as it is encoded.
// Version 2 (read only): version 3 without the model.
// Version 1 (read only): u32 bits, u64 n, codes, i32[n] labels, class names, string dataset,
// string split, paths, u32 dim + f32[n * dim] features.

#include <algorithm>
#include <string>
#include <vector>

#include "deephash/codes/encoded_set.hpp"
#include "deephash/io/container/format.hpp"
#include "deephash/io/container/shard_manifest.hpp"

namespace deephash {

inline constexpr char kCodesFileKind[5] = "CODE";
inline constexpr std::uint32_t kCodesFileVersion = 3;

namespace detail {

inline constexpr std::size_t kEncodedSetChunkItems = 1024;

inline void check_encoded_set_header(const EncodedSet& s, std::size_t n, const std::string& path) {
  if (s.labels.size() != n || (!s.paths.empty() && s.paths.size() != n))
    throw Error(path, "inconsistent encoded set: the labels and locators must cover the " + std::to_string(n) + " images");
}

// `version` other than the current one only to check that older files still read.
inline ByteWriter encoded_set_header(const EncodedSet& s, std::size_t n, std::size_t dim,
                                     std::uint32_t version = kCodesFileVersion) {
  ByteWriter w;
  w.write<std::uint32_t>(std::uint32_t(s.codes.bits()));
  w.write<std::uint64_t>(n);
  w.write<std::uint32_t>(std::uint32_t(dim));
  w.write_string(s.source);
  w.write_string(s.role);
  w.write_string(s.holdout);
  if (version >= 3) {
    w.write_string(s.model);
    w.write<std::uint64_t>(s.skipped);
  }
  w.write<std::uint32_t>(std::uint32_t(s.class_names.size()));
  for (const auto& c : s.class_names) w.write_string(c);
  w.append(s.labels.data(), s.labels.size() * 4);
  w.write<std::uint32_t>(std::uint32_t(s.paths.size()));
  for (const auto& p : s.paths) w.write_string(p);
  return w;
}

}  // namespace detail

// Writes an encoded set chunk by chunk: the header's labels, locators and provenance first,
// then codes and features as they come. Memory holds one chunk; the file appears, whole, at
// commit() (temporary file, then rename), and an unfinished writer leaves no file behind.
class EncodedSetWriter {
 public:
  // `header` holds everything but the codes and features (its codes give only the length).
  // `version`: as for encoded_set_header.
  EncodedSetWriter(const std::string& path, const EncodedSet& header, std::size_t n, std::size_t dim,
                   std::uint32_t version = kCodesFileVersion)
      : EncodedSetWriter(path, header, n, dim, version,
                         (detail::check_encoded_set_header(header, n, path), detail::encoded_set_header(header, n, dim, version))) {}

  // The next images' codes and (n x dim) features; features empty when dim is 0.
  void append(const BitCodes& codes, const RowMatrixXf& features) {
    if (codes.bits() != pending_codes_.bits())
      throw Error(path_, "codes of " + std::to_string(codes.bits()) + " bits appended to a set of " +
                             std::to_string(pending_codes_.bits()));
    if (std::size_t(features.rows()) != (dim_ ? codes.size() : 0) || (dim_ && std::size_t(features.cols()) != dim_))
      throw Error(path_, "features of the wrong shape appended (" + std::to_string(features.rows()) + " x " +
                             std::to_string(features.cols()) + " for " + std::to_string(codes.size()) + " images of " +
                             std::to_string(dim_) + ")");
    if (written_ + pending_codes_.size() + codes.size() > n_)
      throw Error(path_, "more than the " + std::to_string(n_) + " images declared were appended");
    pending_codes_.append(codes);
    pending_features_.insert(pending_features_.end(), features.data(), features.data() + features.size());
    // The file holds a chunk's codes, then its features, chunk after chunk. Every whole chunk is
    // written from where it lies, and the rest copied once: copying the rest after each chunk made
    // one large append (save_encoded_set's) quadratic in its size.
    std::size_t done = 0;
    for (; pending_codes_.size() - done >= detail::kEncodedSetChunkItems; done += detail::kEncodedSetChunkItems)
      write_rows(done, detail::kEncodedSetChunkItems);
    drop_written(done);
  }

  void commit() {
    write_rows(0, pending_codes_.size());
    drop_written(pending_codes_.size());
    if (written_ != n_)
      throw Error(path_, std::to_string(written_) + " of the " + std::to_string(n_) + " images declared were written");
    out_.commit();
  }

 private:
  // The header is serialised once: its size goes into the container's, its bytes first.
  EncodedSetWriter(const std::string& path, const EncodedSet& header, std::size_t n, std::size_t dim, std::uint32_t version,
                   const ByteWriter& head)
      : path_(path), n_(n), dim_(dim), words_(std::size_t(header.codes.words_per_code())),
        out_(path, kCodesFileKind, version, head.bytes().size() + std::uint64_t(n) * (words_ * 8 + std::uint64_t(dim) * 4)),
        pending_codes_(0, header.codes.bits()) {
    out_.write(head.bytes().data(), head.bytes().size());
  }

  // Writes the k pending images from the first: their codes, then their features.
  void write_rows(std::size_t first, std::size_t k) {
    if (k == 0) return;
    out_.write(pending_codes_.data() + first * words_, k * words_ * 8);
    out_.write(pending_features_.data() + first * dim_, k * dim_ * 4);
    written_ += k;
  }

  void drop_written(std::size_t k) {
    if (k == 0) return;
    BitCodes rest = pending_codes_.slice(k, pending_codes_.size());
    pending_codes_ = std::move(rest);
    pending_features_.erase(pending_features_.begin(), pending_features_.begin() + std::ptrdiff_t(k * dim_));
  }

  std::string path_;
  std::size_t n_, dim_, words_, written_ = 0;
  ContainerWriter out_;
  BitCodes pending_codes_;
  std::vector<float> pending_features_;
};

inline void save_encoded_set(const EncodedSet& s, const std::string& path, std::uint32_t version = kCodesFileVersion) {
  const std::size_t n = s.codes.size(), dim = s.features.size() ? std::size_t(s.features.cols()) : 0;
  if (s.features.size() && std::size_t(s.features.rows()) != n)
    throw Error(path, "inconsistent encoded set: " + std::to_string(s.features.rows()) + " feature rows for " +
                          std::to_string(n) + " codes");
  EncodedSetWriter out(path, s, n, dim, version);
  out.append(s.codes, s.features);
  out.commit();
}

namespace detail {

inline void read_class_names_and_paths(ByteReader& r, EncodedSet& s, std::uint64_t n, const std::string& path, bool labels_between) {
  const auto classes = r.read<std::uint32_t>("class names");
  if (classes > r.remaining() / 4) throw Error(path, "truncated: declares " + std::to_string(classes) + " class names");
  for (std::uint32_t i = 0; i < classes; ++i) s.class_names.push_back(r.read_string("class name"));
  if (labels_between) {
    if (n > r.remaining() / 4) throw Error(path, "truncated: declares " + std::to_string(n) + " images");
    s.labels = r.read_array<std::int32_t>(std::size_t(n), "labels");
  }
}

inline void read_paths(ByteReader& r, EncodedSet& s, std::uint64_t n, const std::string& path) {
  const auto paths = r.read<std::uint32_t>("locators");
  if (paths != 0 && paths != n) throw Error(path, "holds " + std::to_string(paths) + " locators for " + std::to_string(n) + " codes");
  if (paths > r.remaining() / 4) throw Error(path, "truncated: declares " + std::to_string(paths) + " locators");
  for (std::uint32_t i = 0; i < paths; ++i) s.paths.push_back(r.read_string("locator"));
}

inline EncodedSet parse_encoded_set_v1(ByteReader& r, const std::string& path) {
  EncodedSet s;
  const auto bits = r.read<std::uint32_t>("code length");
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits)) throw Error(path, "code length " + std::to_string(bits) + " is out of range");
  const auto n = r.read<std::uint64_t>("number of codes");
  const std::size_t words = std::size_t(words_for_bits(int(bits)));
  if (n > r.remaining() / (words * 8 + 4)) throw Error(path, "truncated: declares " + std::to_string(n) + " codes");
  const std::vector<std::uint64_t> codes = r.read_array<std::uint64_t>(std::size_t(n) * words, "codes");
  s.codes = BitCodes::from_words(std::size_t(n), int(bits), codes.data());
  s.labels = r.read_array<std::int32_t>(std::size_t(n), "labels");
  read_class_names_and_paths(r, s, n, path, false);
  s.source = r.read_string("dataset");
  s.role = r.read_string("split");
  read_paths(r, s, n, path);
  const auto dim = r.read<std::uint32_t>("feature size");
  if (dim) {
    if (n && dim > r.remaining() / 4 / n) throw Error(path, "truncated: features of size " + std::to_string(dim) + " do not fit");
    const std::vector<float> f = r.read_array<float>(std::size_t(n) * dim, "features");
    s.features = Eigen::Map<const RowMatrixXf>(f.data(), Eigen::Index(n), Eigen::Index(dim));
  }
  return s;
}

// Versions 2 and 3 (which adds the model).
inline EncodedSet parse_encoded_set_v2(ByteReader& r, const std::string& path, std::uint32_t version) {
  EncodedSet s;
  const auto bits = r.read<std::uint32_t>("code length");
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits)) throw Error(path, "code length " + std::to_string(bits) + " is out of range");
  const auto n = r.read<std::uint64_t>("number of codes");
  const auto dim = r.read<std::uint32_t>("feature size");
  const std::size_t words = std::size_t(words_for_bits(int(bits)));
  if (n > r.remaining() / (words * 8 + 4 + std::uint64_t(dim) * 4))
    throw Error(path, "truncated: declares " + std::to_string(n) + " images");
  s.source = r.read_string("source");
  s.role = r.read_string("role");
  s.holdout = r.read_string("hold-out rule");
  if (version >= 3) {
    s.model = r.read_string("model digest");
    s.skipped = std::size_t(r.read<std::uint64_t>("count of skipped items"));
  }
  read_class_names_and_paths(r, s, n, path, true);
  read_paths(r, s, n, path);
  if (n > r.remaining() / (words * 8 + std::uint64_t(dim) * 4))
    throw Error(path, "truncated: " + std::to_string(n) + " codes do not fit in what is left");
  s.codes = BitCodes(std::size_t(n), int(bits));
  if (dim) s.features.resize(Eigen::Index(n), Eigen::Index(dim));
  for (std::size_t done = 0; done < n;) {
    const std::size_t k = std::min<std::size_t>(kEncodedSetChunkItems, std::size_t(n) - done);
    const std::vector<std::uint64_t> codes = r.read_array<std::uint64_t>(k * words, "codes");
    std::copy(codes.begin(), codes.end(), s.codes.data() + done * words);
    if (dim) {
      const std::vector<float> f = r.read_array<float>(k * dim, "features");
      std::copy(f.begin(), f.end(), s.features.data() + done * dim);
    }
    done += k;
  }
  return s;
}

}  // namespace detail

inline EncodedSet parse_encoded_set(std::vector<std::uint8_t> bytes, const std::string& path) {
  const ContainerContents file = parse_container(std::move(bytes), path, kCodesFileKind, kCodesFileVersion);
  ByteReader r = file.payload(path);
  EncodedSet s = file.version == 1 ? detail::parse_encoded_set_v1(r, path) : detail::parse_encoded_set_v2(r, path, file.version);
  if (!r.at_end()) throw Error(path, "unexpected bytes after the encoded set");
  return s;
}

// Shard s of a sharded encoded set, checked against its manifest (code length, item count).
inline EncodedSet load_encoded_shard(const std::string& manifest_path, const ShardManifest& m, std::size_t s) {
  const std::string file = shard_file(manifest_path, m.shards.at(s));
  std::error_code absent;
  if (!std::filesystem::exists(file, absent))
    throw Error(file, "shard " + std::to_string(s) + " of " + std::to_string(m.shards.size()) + " named by " + manifest_path +
                          " is missing");
  EncodedSet set = parse_encoded_set(read_file_bytes(file), file);
  if (set.codes.bits() != m.bits)
    throw Error(file, "holds " + std::to_string(set.codes.bits()) + "-bit codes, its manifest " + manifest_path + " " +
                          std::to_string(m.bits) + "-bit ones");
  if (set.codes.size() != m.shards[s].count)
    throw Error(file, "holds " + std::to_string(set.codes.size()) + " items, its manifest " + manifest_path + " says " +
                          std::to_string(m.shards[s].count));
  return set;
}

// Appends `more` to `set` (the next items of one collection).
inline void append_encoded_set(EncodedSet& set, EncodedSet&& more, const std::string& where) {
  if (set.codes.size() == 0 && set.labels.empty()) {
    set = std::move(more);
    return;
  }
  if (more.codes.bits() != set.codes.bits() || more.features.cols() != set.features.cols() ||
      more.paths.empty() != set.paths.empty() || more.source != set.source || more.role != set.role ||
      more.holdout != set.holdout || more.model != set.model || more.class_names != set.class_names)
    throw Error(where, "the shards disagree on the code length, features, locators, classes, model or provenance of the set");
  set.codes.append(more.codes);
  set.skipped += more.skipped;
  set.labels.insert(set.labels.end(), more.labels.begin(), more.labels.end());
  set.paths.insert(set.paths.end(), more.paths.begin(), more.paths.end());
  if (more.features.size()) {
    RowMatrixXf joined(set.features.rows() + more.features.rows(), set.features.cols());
    joined << set.features, more.features;
    set.features = std::move(joined);
  }
}

// Shards [first, last) of a manifest, as one set (global items manifest.shards[first].first on).
inline EncodedSet load_encoded_shards(const std::string& manifest_path, const ShardManifest& m, std::size_t first,
                                      std::size_t last) {
  EncodedSet set;
  set.codes = BitCodes(0, m.bits);
  for (std::size_t s = first; s < last; ++s) append_encoded_set(set, load_encoded_shard(manifest_path, m, s), manifest_path);
  return set;
}

// An encoded-set file, or every shard a manifest names, joined in order: a sharded encode reads
// back as the single-process one would.
inline EncodedSet load_encoded_set(const std::string& path) {
  if (is_shard_manifest(path)) {
    const ShardManifest m = load_shard_manifest(path);
    if (m.holds != "codes") throw Error(path, "is a manifest of '" + m.holds + "' shards, not of encoded sets");
    return load_encoded_shards(path, m, 0, m.shards.size());
  }
  return parse_encoded_set(read_file_bytes(path), path);
}

}  // namespace deephash
