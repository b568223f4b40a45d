#pragma once
// Saving and loading a HashingModel (nn/hashing_model.hpp) — the network as Caffe prototxt text,
// readable with any text viewer — and a TrainingSnapshot (nn/training_snapshot.hpp), which adds
// the solver's state.
//
// Container kinds (see format.hpp): "MODL" (model), "SNAP" (snapshot), version 3 (versions 1,
// without the flip-average byte, and 2, without the shift, are read too).
// Payload, little-endian; strings are u32 length + bytes:
//   string prototxt, string input_blob, string latent_blob, string feature_blob,
//   u32 n + i32[n] input shape (C, H, W),
//   transform: i32 resize_h, i32 resize_w, i32 crop, i32 pad, u8 mirror (Mirror), u8 bgr,
//              u32 n + f32[n] mean values, u64 n + f32[n] mean image, f32 scale,
//   version 2: u8 flip_average (FrontendSpec),
//   version 3: i32 shift_average (FrontendSpec),
//   u32 n + string[n] class names, string description,
//   u32 layers, each: string name, u32 blobs, each: u32 axes, i32[axes] shape, u64 n, f32[n]
//   snapshots only: string solver (key value lines), i32 iteration, u64 seed, i32 batch size,
//                   u32 n + (u64 m + f32[m])[n] momentum history

#include <sstream>
#include <string>
#include <vector>

#include "deephash/core/digest.hpp"
#include "deephash/io/caffe/prototxt.hpp"
#include "deephash/io/container/format.hpp"
#include "deephash/nn/hashing_model.hpp"
#include "deephash/nn/training_snapshot.hpp"

namespace deephash {

inline constexpr char kModelFileKind[5] = "MODL";
inline constexpr char kSnapshotFileKind[5] = "SNAP";
inline constexpr std::uint32_t kModelFileVersion = 3;  // of both kinds

namespace detail {

// The payload in the layout of `version` (1 and 2 only to check that old files still read).
inline void write_model(ByteWriter& w, const HashingModel& m, std::uint32_t version = kModelFileVersion) {
  w.write_string(write_caffe_prototxt(m.net));
  w.write_string(m.frontend.input_blob);
  w.write_string(m.frontend.latent_blob);
  w.write_string(m.frontend.feature_blob);
  w.write<std::uint32_t>(std::uint32_t(m.frontend.input_shape.size()));
  for (int d : m.frontend.input_shape) w.write<std::int32_t>(d);
  const TransformSpec& t = m.frontend.transform;
  for (int v : {t.resize_height, t.resize_width, t.crop, t.pad}) w.write<std::int32_t>(v);
  w.write<std::uint8_t>(std::uint8_t(t.mirror));
  w.write<std::uint8_t>(t.bgr);
  w.write<std::uint32_t>(std::uint32_t(t.mean_values.size()));
  w.append(t.mean_values.data(), t.mean_values.size() * 4);
  w.write<std::uint64_t>(t.mean_image.size());
  w.append(t.mean_image.data(), t.mean_image.size() * 4);
  w.write<float>(t.scale);
  if (version >= 2) w.write<std::uint8_t>(m.frontend.flip_average);
  if (version >= 3) w.write<std::int32_t>(m.frontend.shift_average);
  w.write<std::uint32_t>(std::uint32_t(m.class_names.size()));
  for (const auto& c : m.class_names) w.write_string(c);
  w.write_string(m.description);
  w.write<std::uint32_t>(std::uint32_t(m.weights.size()));
  for (const auto& layer : m.weights) {
    w.write_string(layer.layer);
    w.write<std::uint32_t>(std::uint32_t(layer.blobs.size()));
    for (const auto& b : layer.blobs) {
      w.write<std::uint32_t>(std::uint32_t(b.shape.size()));
      for (int d : b.shape) w.write<std::int32_t>(d);
      w.write<std::uint64_t>(b.data.size());
      w.append(b.data.data(), b.data.size() * 4);
    }
  }
}

inline std::uint32_t read_count(ByteReader& r, std::size_t element_bytes, const char* what) {
  const auto n = r.read<std::uint32_t>(what);
  if (element_bytes && n > r.remaining() / element_bytes)
    throw Error(r.source(), std::string("truncated or corrupt: ") + what + " declares " + std::to_string(n) + " entries");
  return n;
}

inline HashingModel read_model(ByteReader& r, std::uint32_t version, const std::string& path) {
  HashingModel m;
  m.net = parse_caffe_prototxt(r.read_string("network"), path + " (network)");
  m.frontend.input_blob = r.read_string("input blob");
  m.frontend.latent_blob = r.read_string("latent blob");
  m.frontend.feature_blob = r.read_string("feature blob");
  m.frontend.input_shape = r.read_array<std::int32_t>(read_count(r, 4, "input shape"), "input shape");
  TransformSpec& t = m.frontend.transform;
  t.resize_height = r.read<std::int32_t>("transform");
  t.resize_width = r.read<std::int32_t>("transform");
  t.crop = r.read<std::int32_t>("transform");
  t.pad = r.read<std::int32_t>("transform");
  const std::uint8_t mirror = r.read<std::uint8_t>("transform");
  if (mirror > std::uint8_t(Mirror::alternating))
    throw Error(path, "corrupt: mirroring " + std::to_string(mirror) + " is not 0 (none), 1 (random) or 2 (alternating)");
  t.mirror = Mirror(mirror);
  t.bgr = r.read<std::uint8_t>("transform") != 0;
  t.mean_values = r.read_array<float>(read_count(r, 4, "mean values"), "mean values");
  t.mean_image = r.read_array<float>(std::size_t(r.read<std::uint64_t>("mean image size")), "mean image");
  t.scale = r.read<float>("transform scale");
  if (version >= 2) m.frontend.flip_average = r.read<std::uint8_t>("flip average") != 0;
  if (version >= 3) {
    m.frontend.shift_average = r.read<std::int32_t>("shift average");
    const int height = m.frontend.input_shape.size() == 3 ? m.frontend.input_shape[1] : 0;
    if (m.frontend.shift_average < 0 || (m.frontend.shift_average > 0 && m.frontend.shift_average >= height))
      throw Error(path, "corrupt: a test-time shift of " + std::to_string(m.frontend.shift_average) +
                            " pixels for images of height " + std::to_string(height));
  }
  for (std::uint32_t i = 0, n = read_count(r, 4, "class names"); i < n; ++i) m.class_names.push_back(r.read_string("class name"));
  m.description = r.read_string("description");
  for (std::uint32_t i = 0, n = read_count(r, 8, "weights"); i < n; ++i) {
    nn::LayerWeights layer{r.read_string("layer name"), {}};
    for (std::uint32_t j = 0, blobs = read_count(r, 12, "blobs"); j < blobs; ++j) {
      nn::WeightBlob b;
      b.shape = r.read_array<std::int32_t>(read_count(r, 4, "blob shape"), "blob shape");
      b.data = r.read_array<float>(std::size_t(r.read<std::uint64_t>("blob size")), "blob data");
      std::size_t count = 1;
      for (int d : b.shape) count *= std::size_t(std::max(d, 0));
      if (count != b.data.size())
        throw Error(path, "layer '" + layer.layer + "' blob " + std::to_string(j) + " has shape " + nn::shape_text(b.shape) +
                              " but " + std::to_string(b.data.size()) + " values");
      layer.blobs.push_back(std::move(b));
    }
    m.weights.push_back(std::move(layer));
  }
  return m;
}

inline std::string solver_text(const nn::SolverSpec& s) {
  std::ostringstream o;
  o.precision(9);
  o << "base_lr " << s.base_lr << "\nlr_policy " << s.lr_policy << "\ngamma " << s.gamma << "\npower " << s.power
    << "\nstepsize " << s.stepsize << "\nmax_iter " << s.max_iter << "\nmomentum " << s.momentum << "\nweight_decay "
    << s.weight_decay << "\nstepvalue";
  for (int v : s.stepvalue) o << " " << v;
  o << "\n";
  return o.str();
}

inline nn::SolverSpec parse_solver_text(const std::string& text, const std::string& path) {
  nn::SolverSpec s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string key;
    l >> key;
    if (key == "base_lr") l >> s.base_lr;
    else if (key == "lr_policy") l >> s.lr_policy;
    else if (key == "gamma") l >> s.gamma;
    else if (key == "power") l >> s.power;
    else if (key == "stepsize") l >> s.stepsize;
    else if (key == "max_iter") l >> s.max_iter;
    else if (key == "momentum") l >> s.momentum;
    else if (key == "weight_decay") l >> s.weight_decay;
    else if (key == "stepvalue") for (int v; l >> v;) s.stepvalue.push_back(v);
    else if (!key.empty()) throw Error(path, "unknown solver setting '" + key + "'");
  }
  return s;
}

}  // namespace detail

inline void save_model(const HashingModel& model, const std::string& path) {
  ByteWriter w;
  detail::write_model(w, model);
  save_container(path, kModelFileKind, kModelFileVersion, w);
}

inline HashingModel parse_model(std::vector<std::uint8_t> bytes, const std::string& path) {
  const ContainerContents file = parse_container(std::move(bytes), path, kModelFileKind, kModelFileVersion);
  ByteReader r = file.payload(path);
  HashingModel m = detail::read_model(r, file.version, path);
  if (!r.at_end()) throw Error(path, "unexpected bytes after the model");
  return m;
}

inline HashingModel load_model(const std::string& path) { return parse_model(read_file_bytes(path), path); }

// What tells models apart: a digest of the payload its file holds (network, transformation,
// class names, description, weights; core/digest.hpp), as this version writes it — so a model
// gives one digest whichever file version it was read from. Encoded sets record it
// (codes_file.hpp), and sets meet only when they were made by one model.
inline std::string model_digest(const HashingModel& m) {
  ByteWriter w;
  detail::write_model(w, m);
  return digest64_hex(w.bytes().data(), w.bytes().size());
}

inline void save_snapshot(const TrainingSnapshot& s, const std::string& path) {
  ByteWriter w;
  detail::write_model(w, s.model);
  w.write_string(detail::solver_text(s.solver));
  w.write<std::int32_t>(s.iteration);
  w.write<std::uint64_t>(s.seed);
  w.write<std::int32_t>(s.batch_size);
  w.write<std::uint32_t>(std::uint32_t(s.history.size()));
  for (const auto& h : s.history) {
    w.write<std::uint64_t>(h.size());
    w.append(h.data(), h.size() * 4);
  }
  save_container(path, kSnapshotFileKind, kModelFileVersion, w);
}

inline TrainingSnapshot parse_snapshot(std::vector<std::uint8_t> bytes, const std::string& path) {
  const ContainerContents file = parse_container(std::move(bytes), path, kSnapshotFileKind, kModelFileVersion);
  ByteReader r = file.payload(path);
  TrainingSnapshot s;
  s.model = detail::read_model(r, file.version, path);
  s.solver = detail::parse_solver_text(r.read_string("solver"), path);
  s.iteration = r.read<std::int32_t>("iteration");
  s.seed = r.read<std::uint64_t>("seed");
  s.batch_size = r.read<std::int32_t>("batch size");
  for (std::uint32_t i = 0, n = detail::read_count(r, 8, "history"); i < n; ++i)
    s.history.push_back(r.read_array<float>(std::size_t(r.read<std::uint64_t>("history size")), "history"));
  if (!r.at_end()) throw Error(path, "unexpected bytes after the snapshot");
  return s;
}

inline TrainingSnapshot load_snapshot(const std::string& path) { return parse_snapshot(read_file_bytes(path), path); }

}  // namespace deephash
