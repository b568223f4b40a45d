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

// deephash files start with the container magic and a kind; a .caffemodel is a NetParameter,
// whose first field is the name (field 1, length-delimited: byte 0x0A) or the layers (field 2
// V1 "layers" 0x12, field 100 "layer" 0xA2 0x06).
inline WeightsFormat detect_weights_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open the weights file");
  char head[12] = {};
  in.read(head, sizeof head);
  const std::size_t got = std::size_t(in.gcount());
  if (got >= 12 && std::memcmp(head, kContainerMagic, 8) == 0) {
    if (std::memcmp(head + 8, kModelFileKind, 4) == 0) return WeightsFormat::DeephashModel;
    if (std::memcmp(head + 8, kSnapshotFileKind, 4) == 0) return WeightsFormat::DeephashSnapshot;
    throw Error(path, "is a deephash file of kind '" + std::string(head + 8, 4) + "', not a model or snapshot");
  }
  const auto first = static_cast<unsigned char>(head[0]);
  if (got >= 2 && (first == 0x0A || first == 0x12 || (first == 0xA2 && static_cast<unsigned char>(head[1]) == 0x06)))
    return WeightsFormat::Caffemodel;
  throw Error(path, "is neither a deephash model or snapshot nor a Caffe .caffemodel (binary protobuf)");
}

// Whether the file is a deephash model (rather than, say, a Caffe prototxt).
inline bool is_deephash_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open the file");
  char head[12] = {};
  in.read(head, sizeof head);
  return in.gcount() == 12 && std::memcmp(head, kContainerMagic, 8) == 0 && std::memcmp(head + 8, kModelFileKind, 4) == 0;
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
