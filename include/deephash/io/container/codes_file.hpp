#pragma once
// Saving and loading an EncodedSet (codes/encoded_set.hpp). Container kind "CODE", version 1.
// Payload, little-endian:
//   u32 bits, u64 n, n codes (ceil(bits/64) u64 words each), i32[n] labels,
//   u32 m + string[m] class names, string dataset, string split,
//   u32 p (0 or n) + string[p] paths, u32 dim (0: none) + f32[n * dim] features

#include <string>
#include <vector>

#include "deephash/codes/encoded_set.hpp"
#include "deephash/io/container/format.hpp"

namespace deephash {

inline constexpr char kCodesFileKind[5] = "CODE";

inline void save_encoded_set(const EncodedSet& s, const std::string& path) {
  if (s.labels.size() != s.codes.size() || (!s.paths.empty() && s.paths.size() != s.codes.size()) ||
      (s.features.size() && std::size_t(s.features.rows()) != s.codes.size()))
    throw Error(path, "inconsistent encoded set: the codes, labels, paths and features must cover the same images");
  ByteWriter w;
  w.write<std::uint32_t>(std::uint32_t(s.codes.bits()));
  w.write<std::uint64_t>(s.codes.size());
  w.append(s.codes.data(), s.codes.size() * std::size_t(s.codes.words_per_code()) * 8);
  w.append(s.labels.data(), s.labels.size() * 4);
  w.write<std::uint32_t>(std::uint32_t(s.class_names.size()));
  for (const auto& c : s.class_names) w.write_string(c);
  w.write_string(s.dataset);
  w.write_string(s.split);
  w.write<std::uint32_t>(std::uint32_t(s.paths.size()));
  for (const auto& p : s.paths) w.write_string(p);
  w.write<std::uint32_t>(std::uint32_t(s.features.size() ? s.features.cols() : 0));
  w.append(s.features.data(), std::size_t(s.features.size()) * 4);
  save_container(path, kCodesFileKind, 1, w);
}

inline EncodedSet parse_encoded_set(std::vector<std::uint8_t> bytes, const std::string& path) {
  const ContainerContents file = parse_container(std::move(bytes), path, kCodesFileKind, 1);
  ByteReader r = file.payload(path);
  EncodedSet s;
  const auto bits = r.read<std::uint32_t>("code length");
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits)) throw Error(path, "code length " + std::to_string(bits) + " is out of range");
  const auto n = r.read<std::uint64_t>("number of codes");
  const std::size_t words = std::size_t(words_for_bits(int(bits)));
  if (n > r.remaining() / (words * 8 + 4)) throw Error(path, "truncated: declares " + std::to_string(n) + " codes");
  const std::vector<std::uint64_t> codes = r.read_array<std::uint64_t>(std::size_t(n) * words, "codes");
  s.codes = BitCodes::from_words(std::size_t(n), int(bits), codes.data());
  s.labels = r.read_array<std::int32_t>(std::size_t(n), "labels");
  const auto classes = r.read<std::uint32_t>("class names");
  if (classes > r.remaining() / 4) throw Error(path, "truncated: declares " + std::to_string(classes) + " class names");
  for (std::uint32_t i = 0; i < classes; ++i) s.class_names.push_back(r.read_string("class name"));
  s.dataset = r.read_string("dataset");
  s.split = r.read_string("split");
  const auto paths = r.read<std::uint32_t>("paths");
  if (paths != 0 && paths != n) throw Error(path, "holds " + std::to_string(paths) + " paths for " + std::to_string(n) + " codes");
  for (std::uint32_t i = 0; i < paths; ++i) s.paths.push_back(r.read_string("path"));
  const auto dim = r.read<std::uint32_t>("feature size");
  if (dim) {
    if (n && dim > r.remaining() / 4 / n) throw Error(path, "truncated: features of size " + std::to_string(dim) + " do not fit");
    const std::vector<float> f = r.read_array<float>(std::size_t(n) * dim, "features");
    s.features = Eigen::Map<const RowMatrixXf>(f.data(), Eigen::Index(n), Eigen::Index(dim));
  }
  if (!r.at_end()) throw Error(path, "unexpected bytes after the encoded set");
  return s;
}

inline EncodedSet load_encoded_set(const std::string& path) { return parse_encoded_set(read_file_bytes(path), path); }

}  // namespace deephash
