#pragma once
// Caffe .caffemodel files: a binary NetParameter whose layers carry their parameter blobs.
//
// Reading takes the net description from the layer messages exactly as a prototxt is read (the
// binary is decoded into the same tree, see protobuf/schema.hpp, and interpreted by
// net_message.hpp), and the blobs straight from the bytes: both `layer` (current) and
// `layers` (V1) entries; blob shapes as BlobShape dims (packed or not) or legacy
// num/channels/height/width (read as a 4-D shape, as Caffe does); values as floats (packed or not)
// or as double_data, converted to float. The file is read into memory once and parsed in place;
// there is no size cap, as the paper's released models are about 230 MB.
//
// Writing produces files that Caffe and OpenCV's Caffe importer load, layer parameters included,
// so that the .caffemodel alone describes the net: the current format (`layer`, BlobShape, packed
// floats) or V1 (`layers` with enum types, legacy 4-D dims, as the 2015 model zoo has them).

#include <climits>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "deephash/core/atomic_file.hpp"
#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"
#include "deephash/io/caffe/net_message.hpp"
#include "deephash/io/caffe/schema.hpp"
#include "deephash/io/protobuf/schema.hpp"
#include "deephash/io/protobuf/wire.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash {

struct CaffeModel {
  nn::NetSpec net;
  // One entry per layer that has blobs, in the net's order, named after the layer.
  std::vector<nn::LayerWeights> weights;
};

namespace caffe_detail {

inline std::string shape_text(const std::vector<std::int64_t>& dims) {
  if (dims.empty()) return "[] (a scalar)";
  std::string s;
  for (std::int64_t d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

inline nn::WeightBlob read_blob(const WireReader& layer, const WireField& field,
                                const std::string& layer_name, std::size_t index) {
  const std::string what = "layer '" + layer_name + "' blob " + std::to_string(index);
  WireReader reader = layer.message(field);
  std::vector<float> data;
  std::vector<double> doubles;
  std::vector<std::int64_t> shape, legacy(4, 0);
  bool has_shape = false, has_legacy = false;
  WireField f;
  while (reader.next(f)) {
    switch (f.number) {
      case caffe::kBlobNumField:
      case caffe::kBlobChannelsField:
      case caffe::kBlobHeightField:
      case caffe::kBlobWidthField:
        reader.expect_type(f, WireType::Varint, what + " legacy dimension");
        legacy[f.number - caffe::kBlobNumField] = std::int64_t(f.value);
        has_legacy = true;
        break;
      case caffe::kBlobDataField: reader.append_floats(f, data, what + " data"); break;
      case caffe::kBlobDoubleDataField: reader.append_doubles(f, doubles, what + " double_data"); break;
      case caffe::kBlobShapeField: {
        has_shape = true;
        shape.clear();
        WireReader dims = reader.message(f);
        WireField d;
        while (dims.next(d))
          if (d.number == caffe::kBlobShapeDimField)
            dims.for_each_varint(d, what + " shape dim",
                                 [&](std::uint64_t v) { shape.push_back(std::int64_t(v)); });
        break;
      }
      default: break;  // diff, double_diff: gradients, not needed
    }
  }
  const std::vector<std::int64_t>& dims = has_shape ? shape : has_legacy ? legacy : shape;
  const std::string where = wire_location(layer.source(), field.offset);
  nn::WeightBlob blob;
  std::uint64_t count = 1;
  bool overflow = false;
  for (std::int64_t d : dims) {
    if (d < 0 || d > INT_MAX)
      throw Error(where, what + ": dimension " + std::to_string(d) + " of shape " +
                             shape_text(dims) + " is out of range");
    blob.shape.push_back(int(d));
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d))
      overflow = true;
    count *= std::uint64_t(d);
  }
  // Caffe prefers double_data when both are present.
  const std::size_t stored = doubles.empty() ? data.size() : doubles.size();
  if (overflow || count != stored)
    throw Error(where, what + ": shape " + shape_text(dims) + " holds " +
                           (overflow ? std::string("more than 2^64") : std::to_string(count)) +
                           " values but the blob stores " + std::to_string(stored));
  if (doubles.empty()) {
    blob.data = std::move(data);
  } else {
    blob.data.assign(doubles.begin(), doubles.end());
  }
  return blob;
}

// The bytes of a blob message up to its float payload (which the writer streams from the blob
// itself): the shape, then the data field's tag and length.
inline WireWriter blob_head(const nn::WeightBlob& blob, CaffeFormat format) {
  WireWriter head;
  if (format == CaffeFormat::V1) {
    // Legacy blobs are 4-D; lower-rank shapes are padded with leading 1s, as Caffe did.
    std::vector<int> dims(4 - blob.shape.size(), 1);
    dims.insert(dims.end(), blob.shape.begin(), blob.shape.end());
    head.write_varint_field(caffe::kBlobNumField, std::uint64_t(dims[0]));
    head.write_varint_field(caffe::kBlobChannelsField, std::uint64_t(dims[1]));
    head.write_varint_field(caffe::kBlobHeightField, std::uint64_t(dims[2]));
    head.write_varint_field(caffe::kBlobWidthField, std::uint64_t(dims[3]));
  } else {
    WireWriter shape;
    std::vector<std::uint64_t> dims(blob.shape.begin(), blob.shape.end());
    if (!dims.empty()) shape.write_packed_varints(caffe::kBlobShapeDimField, dims);
    head.write_message(caffe::kBlobShapeField, shape);
  }
  if (!blob.data.empty()) {
    head.write_tag(caffe::kBlobDataField, WireType::LengthDelimited);
    head.write_varint(blob.data.size() * sizeof(float));
  }
  return head;
}

inline void check_blob(const std::string& path, const std::string& layer, std::size_t index,
                       const nn::WeightBlob& blob, CaffeFormat format) {
  const std::string what = "layer '" + layer + "' blob " + std::to_string(index);
  std::uint64_t count = 1;
  bool overflow = false;
  for (int d : blob.shape) {
    if (d < 0) throw Error(path, what + " has a negative dimension");
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d))
      overflow = true;
    count *= std::uint64_t(d);
  }
  if (overflow || count != blob.data.size())
    throw Error(path, what + ": its shape holds " +
                          (overflow ? std::string("more than 2^64") : std::to_string(count)) +
                          " values but it has " + std::to_string(blob.data.size()));
  if (format == CaffeFormat::V1 && blob.shape.size() > 4)
    throw Error(path, what + " has " + std::to_string(blob.shape.size()) +
                          " dimensions; the V1 format stores at most 4");
}

}  // namespace caffe_detail

// Parses a .caffemodel held in memory; `source` names it in errors.
inline CaffeModel parse_caffemodel(const std::uint8_t* data, std::size_t size,
                                   const std::string& source) {
  CaffeModel model;
  {
    WireReader reader(data, size, source);
    model.net = parse_caffe_net(decode_message(reader, caffe::net_schema()), source);
  }
  if (model.net.layers.empty())
    throw Error(source, "the file holds no layers; is it a .caffemodel (a binary NetParameter)?");
  // Second pass, for the blobs the tree left out. Layers are met in the same order as above.
  WireReader reader(data, size, source);
  WireField f;
  std::size_t layer_index = 0;
  while (reader.next(f)) {
    const bool v1 = f.number == caffe::kNetV1LayersField;
    if (!v1 && f.number != caffe::kNetLayerField) continue;
    if (layer_index >= model.net.layers.size())
      reader.fail_at(f.offset, "internal error: more layer entries than layers");
    nn::LayerWeights weights{model.net.layers[layer_index++].name, {}};
    WireReader layer = reader.message(f);
    WireField g;
    const std::uint32_t blobs_field = v1 ? caffe::kV1LayerBlobsField : caffe::kLayerBlobsField;
    while (layer.next(g))
      if (g.number == blobs_field)
        weights.blobs.push_back(caffe_detail::read_blob(layer, g, weights.layer, weights.blobs.size()));
    if (!weights.blobs.empty()) model.weights.push_back(std::move(weights));
  }
  return model;
}

inline CaffeModel read_caffemodel(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return parse_caffemodel(bytes.data(), bytes.size(), path);
}

// Writes `net` with `weights` (matched to layers by name; a layer may have none) as a
// .caffemodel, atomically. In the V1 format, blobs are stored 4-D (lower ranks padded with
// leading 1s, so they read back 4-D) and layer types must have a V1 enum.
inline void write_caffemodel(const std::string& path, const nn::NetSpec& net,
                             const std::vector<nn::LayerWeights>& weights, CaffeFormat format) {
  // Everything is checked before the first byte is written.
  std::set<std::string> layer_names;
  for (const nn::LayerSpec& layer : net.layers) layer_names.insert(layer.name);
  std::map<std::string, const nn::LayerWeights*> by_layer;
  for (const nn::LayerWeights& w : weights) {
    if (!layer_names.count(w.layer))
      throw Error(path, "weights are given for layer '" + w.layer + "', which the net does not have");
    if (!by_layer.emplace(w.layer, &w).second)
      throw Error(path, "weights for layer '" + w.layer + "' are given twice");
    for (std::size_t i = 0; i < w.blobs.size(); ++i)
      caffe_detail::check_blob(path, w.layer, i, w.blobs[i], format);
  }
  const TextMessage tree = caffe_net_message(net, format, path);

  const bool v1 = format == CaffeFormat::V1;
  const std::uint32_t layer_field = v1 ? caffe::kNetV1LayersField : caffe::kNetLayerField;
  const std::uint32_t blobs_field = v1 ? caffe::kV1LayerBlobsField : caffe::kLayerBlobsField;
  const MessageSchema& layer_schema = v1 ? caffe::v1_layer_schema() : caffe::layer_schema();

  AtomicFileWriter out(path);
  WireWriter pending;
  const auto flush = [&] {
    out.write(pending.bytes().data(), pending.size());
    pending.clear();
  };

  // The net's own fields first; readers do not mind the order of fields.
  TextMessage header;
  for (const TextField& f : tree.fields)
    if (f.name != "layer" && f.name != "layers") header.fields.push_back(f);
  encode_message(pending, header, caffe::net_schema(), path);

  // Each layer's length prefix covers its blobs, whose sizes are known without encoding them,
  // so the floats go from the caller's vectors to the file with no intermediate copy.
  std::set<std::string> weights_written;  // a duplicated layer name gets the weights once
  std::size_t layer_index = 0;
  for (const TextField& f : tree.fields) {
    if (f.name != "layer" && f.name != "layers") continue;
    const nn::LayerSpec& spec = net.layers[layer_index++];
    WireWriter layer;
    encode_message(layer, f.message, layer_schema, path);
    const nn::LayerWeights* w = nullptr;
    const auto found = by_layer.find(spec.name);
    if (found != by_layer.end() && weights_written.insert(spec.name).second) w = found->second;

    std::vector<WireWriter> heads;
    std::vector<std::uint64_t> blob_sizes;
    std::uint64_t layer_size = layer.size();
    if (w)
      for (const nn::WeightBlob& blob : w->blobs) {
        heads.push_back(caffe_detail::blob_head(blob, format));
        const std::uint64_t size = heads.back().size() + blob.data.size() * sizeof(float);
        blob_sizes.push_back(size);
        layer_size += WireWriter::tag_size(blobs_field) + WireWriter::varint_size(size) + size;
      }
    pending.write_tag(layer_field, WireType::LengthDelimited);
    pending.write_varint(layer_size);
    pending.append(layer.bytes().data(), layer.size());
    for (std::size_t i = 0; i < heads.size(); ++i) {
      pending.write_tag(blobs_field, WireType::LengthDelimited);
      pending.write_varint(blob_sizes[i]);
      pending.append(heads[i].bytes().data(), heads[i].size());
      flush();
      const std::vector<float>& values = w->blobs[i].data;
      out.write(values.data(), values.size() * sizeof(float));  // little-endian, as protobuf
    }
    if (pending.size() > (std::size_t(1) << 20)) flush();
  }
  flush();
  out.commit();
}

}  // namespace deephash
