#pragma once
// Caffe .prototxt net descriptions: reading (current and V1 forms) into nn::NetSpec, and writing
// a NetSpec back as text. The text syntax is protobuf/text_format.hpp's, the meaning of the fields
// net_message.hpp's; this header only joins them to files.

#include <string>

#include "deephash/core/atomic_file.hpp"
#include "deephash/core/byte_io.hpp"
#include "deephash/io/caffe/net_message.hpp"
#include "deephash/io/protobuf/text_format.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash {

// Parses prototxt text; `source` names it in errors ("file:line:column: problem").
inline nn::NetSpec parse_caffe_prototxt(const std::string& text, const std::string& source) {
  return parse_caffe_net(parse_text_message(text, source), source);
}

inline nn::NetSpec read_caffe_prototxt(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return parse_caffe_prototxt(std::string(bytes.begin(), bytes.end()), path);
}

// The net as prototxt text: `layer { type: "..." }` entries by default (V1 `layers` on request),
// two-space indentation, values equal to their defaults left out.
inline std::string write_caffe_prototxt(const nn::NetSpec& net,
                                        CaffeFormat format = CaffeFormat::Current) {
  return write_text_message(caffe_net_message(net, format, "write_caffe_prototxt"));
}

// Writes write_caffe_prototxt(net, format) to `path`, atomically.
inline void save_caffe_prototxt(const std::string& path, const nn::NetSpec& net,
                                CaffeFormat format = CaffeFormat::Current) {
  const std::string text = write_text_message(caffe_net_message(net, format, path));
  write_file_atomically(path, text.data(), text.size());
}

}  // namespace deephash
