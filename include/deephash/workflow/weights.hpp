#pragma once
// Weights to start training from, whatever file holds them: a Caffe .caffemodel (binary
// protobuf, e.g. an ImageNet model or the authors' KevinNet), a deephash model, or a deephash
// training snapshot. The format is told from the file's first bytes, not its name.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/io/caffe/caffemodel.hpp"
#include "deephash/io/container/format.hpp"
#include "deephash/io/container/model_file.hpp"

namespace deephash {

enum class WeightsFormat { DeephashModel, DeephashSnapshot, Caffemodel };

inline const char* to_string(WeightsFormat f) {
  switch (f) {
    case WeightsFormat::DeephashModel: return "deephash model";
    case WeightsFormat::DeephashSnapshot: return "deephash training snapshot";
    case WeightsFormat::Caffemodel: return "Caffe model";
  }
  return "?";
}

namespace detail {

// The first bytes of a file: enough to tell deephash's files and Caffe's apart.
struct FileHead {
  char bytes[12] = {};
  std::size_t size = 0;
  bool is_deephash() const { return size >= 12 && std::memcmp(bytes, kContainerMagic, 8) == 0; }
  bool is_deephash(const char* kind) const { return is_deephash() && std::memcmp(bytes + 8, kind, 4) == 0; }
};

inline FileHead read_file_head(const std::string& path, const std::string& what) {
  require_not_directory(path, "the " + what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open the " + what);
  FileHead h;
  in.read(h.bytes, sizeof h.bytes);
  h.size = std::size_t(in.gcount());
  return h;
}

}  // namespace detail

// deephash files start with the container magic and a kind; a .caffemodel is a NetParameter,
// whose first field is the name (field 1, length-delimited: byte 0x0A) or the layers (field 2
// V1 "layers" 0x12, field 100 "layer" 0xA2 0x06).
inline WeightsFormat detect_weights_format(const std::string& path) {
  const detail::FileHead h = detail::read_file_head(path, "weights file");
  if (h.is_deephash()) {
    if (h.is_deephash(kModelFileKind)) return WeightsFormat::DeephashModel;
    if (h.is_deephash(kSnapshotFileKind)) return WeightsFormat::DeephashSnapshot;
    throw Error(path, "is a deephash file of kind '" + std::string(h.bytes + 8, 4) + "', not a model or snapshot");
  }
  const auto first = static_cast<unsigned char>(h.bytes[0]);
  if (h.size >= 2 && (first == 0x0A || first == 0x12 || (first == 0xA2 && static_cast<unsigned char>(h.bytes[1]) == 0x06)))
    return WeightsFormat::Caffemodel;
  throw Error(path, "is neither a deephash model or snapshot nor a Caffe .caffemodel (binary protobuf)");
}

// Whether the file is a deephash model (rather than, say, a Caffe prototxt).
inline bool is_deephash_model(const std::string& path) {
  return detail::read_file_head(path, "file").is_deephash(kModelFileKind);
}

// The layers' weights, by layer name, as the file holds them.
inline std::vector<nn::LayerWeights> load_weights(const std::string& path) {
  switch (detect_weights_format(path)) {
    case WeightsFormat::DeephashModel: return load_model(path).weights;
    case WeightsFormat::DeephashSnapshot: return load_snapshot(path).model.weights;
    case WeightsFormat::Caffemodel: return read_caffemodel(path).weights;
  }
  return {};
}

}  // namespace deephash
