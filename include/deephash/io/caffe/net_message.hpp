#pragma once
// Caffe's NetParameter, as a generic message tree (protobuf/text_format.hpp), to and from nn::NetSpec.
// The tree comes from a .prototxt or from the binary decoder (caffemodel.hpp); both go through
// the one interpretation here, so a net reads the same whichever file describes it.
//
// Reading accepts the current form (`layer { type: "Convolution" }`, `param { lr_mult }`) and the
// V1 form of 2014's model zoo (`layers { type: CONVOLUTION }`, `blobs_lr`, `weight_decay`), mixed
// freely; V0 nets (`layers { layer { ... } }`) are refused. Fields we do not use are ignored, as
// Caffe files carry many (data sources, engines, ...); fields we use must be well formed, and
// settings whose meaning deephash does not implement (STOCHASTIC pooling, WITHIN_CHANNEL LRN, a
// transposed inner product, 3-D kernels) are errors rather than silently different nets.
//
// Writing produces the current form, or V1 for models that old readers must load. Only values
// that differ from their defaults are written (as Caffe's own files look), and every default here
// is the one nn::LayerSpec and Caffe share, so parse(write(spec)) gives back spec exactly.

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/io/caffe/schema.hpp"
#include "deephash/io/protobuf/text_format.hpp"
#include "deephash/nn/net_spec.hpp"

namespace deephash {

// The two layouts of a Caffe net that deephash writes.
enum class CaffeFormat {
  Current,  // `layer` with type strings; blobs with BlobShape dims and packed floats
  V1,       // `layers` with LayerType enums and blobs_lr / weight_decay; legacy 4-D blob dims
};

namespace caffe_detail {

// --- reading ---

class NetReader {
 public:
  explicit NetReader(const std::string& source) : source_(source) {}

  nn::NetSpec read_net(const TextMessage& net) const {
    nn::NetSpec spec;
    std::vector<const TextField*> input_dims, input_shapes;
    for (const TextField& f : net.fields) {
      if (f.name == "name") spec.name = text_to_string(f, source_);
      else if (f.name == "input") spec.inputs.push_back(text_to_string(f, source_));
      else if (f.name == "input_dim") input_dims.push_back(&f);
      else if (f.name == "input_shape") input_shapes.push_back(&f);
      else if (f.name == "layer") spec.layers.push_back(read_layer(f));
      else if (f.name == "layers") spec.layers.push_back(read_v1_layer(f));
    }
    read_net_inputs(spec, input_dims, input_shapes);
    return spec;
  }

 private:
  [[noreturn]] void fail(const TextField& at, const std::string& problem) const {
    fail_at_field(at, source_, problem);
  }
  int count(const TextField& f) const { return int(text_to_integer(f, source_, 0, INT_MAX)); }
  int signed_int(const TextField& f) const {
    return int(text_to_integer(f, source_, INT_MIN, INT_MAX));
  }
  float real(const TextField& f) const { return text_to_float(f, source_); }
  bool flag(const TextField& f) const { return text_to_bool(f, source_); }
  const std::string& str(const TextField& f) const { return text_to_string(f, source_); }
  const TextMessage& message(const TextField& f) const { return text_to_message(f, source_); }
  std::string_view enum_name(const TextField& f, const EnumTable& table) const {
    return text_to_enum(f, table, source_).name;
  }

  void read_net_inputs(nn::NetSpec& spec, const std::vector<const TextField*>& dims,
                       const std::vector<const TextField*>& shapes) const {
    if (!dims.empty() && !shapes.empty())
      fail(*shapes.front(), "give the inputs' shapes with input_dim or with input_shape, not both");
    const std::size_t n = spec.inputs.size();
    if (!dims.empty()) {
      if (dims.size() != 4 * n)
        fail(*dims.front(), "expected 4 input_dim values per input (" + std::to_string(n) +
                                " inputs), found " + std::to_string(dims.size()));
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<int> shape;
        for (std::size_t j = 0; j < 4; ++j) shape.push_back(count(*dims[4 * i + j]));
        spec.input_shapes.push_back(shape);
      }
    }
    if (!shapes.empty()) {
      if (shapes.size() != n)
        fail(*shapes.front(), "expected one input_shape per input (" + std::to_string(n) +
                                  " inputs), found " + std::to_string(shapes.size()));
      for (const TextField* s : shapes) spec.input_shapes.push_back(read_shape(*s));
    }
  }

  // A BlobShape's dims; `signed_dims` lets them be negative (Reshape's -1), else they are counts.
  std::vector<int> read_shape(const TextField& field, bool signed_dims = false) const {
    std::vector<int> shape;
    for (const TextField& f : message(field).fields)
      if (f.name == "dim") shape.push_back(signed_dims ? signed_int(f) : count(f));
    return shape;
  }

  // include / exclude { phase: ... } rules -> LayerSpec::phase.
  struct PhaseRules {
    bool include[2] = {false, false}, exclude[2] = {false, false};
    const TextField* first_include = nullptr;
    const TextField* first_exclude = nullptr;
  };

  void read_rule(const TextField& field, PhaseRules& rules, bool include) const {
    const TextField*& first = include ? rules.first_include : rules.first_exclude;
    if (!first) first = &field;
    for (const TextField& f : message(field).fields)
      if (f.name == "phase") {
        const int phase = text_to_enum(f, caffe::phase_enum(), source_).number;
        (include ? rules.include : rules.exclude)[phase] = true;
      }
  }

  std::optional<nn::Phase> resolve_phase(const PhaseRules& rules) const {
    if (rules.first_include && rules.first_exclude)
      fail(*rules.first_exclude, "give include or exclude rules, not both (as Caffe requires)");
    // Included in exactly one phase; rules without a phase (stages, levels) do not restrict it.
    if (rules.include[0] != rules.include[1])
      return rules.include[0] ? nn::Phase::Train : nn::Phase::Test;
    if (rules.exclude[0] && rules.exclude[1])
      fail(*rules.first_exclude, "the layer is excluded from both phases");
    if (rules.exclude[0]) return nn::Phase::Test;
    if (rules.exclude[1]) return nn::Phase::Train;
    return std::nullopt;
  }

  nn::LayerSpec read_layer(const TextField& field) const {
    nn::LayerSpec layer;
    PhaseRules rules;
    const TextField* type = nullptr;
    for (const TextField& f : message(field).fields) {
      if (f.name == "name") {
        layer.name = str(f);
      } else if (f.name == "type") {
        if (f.kind == TextValueKind::Identifier)
          fail(f, "a `layer` takes a quoted type string (type: \"Convolution\"); enum types "
                  "such as " + f.scalar + " belong to the V1 form `layers { ... }`");
        layer.type = str(f);
        type = &f;
      } else if (f.name == "bottom") {
        layer.bottoms.push_back(str(f));
      } else if (f.name == "top") {
        layer.tops.push_back(str(f));
      } else if (f.name == "loss_weight") {
        layer.loss_weights.push_back(real(f));
      } else if (f.name == "param") {
        layer.params.push_back(read_param_spec(f));
      } else if (f.name == "include" || f.name == "exclude") {
        read_rule(f, rules, f.name == "include");
      } else {
        read_typed_param(layer, f);
      }
    }
    if (!type || layer.type.empty())
      fail(field, "layer '" + layer.name + "' has no type");
    layer.phase = resolve_phase(rules);
    return layer;
  }

  nn::LayerSpec read_v1_layer(const TextField& field) const {
    nn::LayerSpec layer;
    PhaseRules rules;
    const TextField* type = nullptr;
    std::vector<float> lr_mults, decay_mults;
    for (const TextField& f : message(field).fields) {
      if (f.name == "layer") {
        fail(f, "this is a V0 net (`layers { layer { ... } }`), which deephash does not "
                "support; convert it with Caffe's upgrade_net_proto_text or "
                "upgrade_net_proto_binary first");
      } else if (f.name == "name") {
        layer.name = str(f);
      } else if (f.name == "type") {
        if (f.kind == TextValueKind::String)
          fail(f, "a V1 `layers` entry takes an enum type (type: CONVOLUTION); type strings "
                  "such as \"" + f.scalar + "\" belong to the current form `layer { ... }`");
        const int number = text_to_enum(f, caffe::v1_layer_type_enum(), source_).number;
        const caffe::V1LayerType* v1 = caffe::v1_layer_type_for(number);
        if (!v1 || v1->type.empty()) fail(f, "layer type NONE");
        layer.type = std::string(v1->type);
        type = &f;
      } else if (f.name == "bottom") {
        layer.bottoms.push_back(str(f));
      } else if (f.name == "top") {
        layer.tops.push_back(str(f));
      } else if (f.name == "loss_weight") {
        layer.loss_weights.push_back(real(f));
      } else if (f.name == "blobs_lr") {
        lr_mults.push_back(real(f));
      } else if (f.name == "weight_decay") {
        decay_mults.push_back(real(f));
      } else if (f.name == "include" || f.name == "exclude") {
        read_rule(f, rules, f.name == "include");
      } else {
        read_typed_param(layer, f);
      }
    }
    if (!type) fail(field, "layer '" + layer.name + "' has no type");
    // V1 gave the multipliers as two parallel lists; a missing entry keeps its default of 1.
    layer.params.resize(std::max(lr_mults.size(), decay_mults.size()));
    for (std::size_t i = 0; i < lr_mults.size(); ++i) layer.params[i].lr_mult = lr_mults[i];
    for (std::size_t i = 0; i < decay_mults.size(); ++i) layer.params[i].decay_mult = decay_mults[i];
    layer.phase = resolve_phase(rules);
    return layer;
  }

  nn::ParamSpec read_param_spec(const TextField& field) const {
    nn::ParamSpec p;
    for (const TextField& f : message(field).fields) {
      if (f.name == "lr_mult") p.lr_mult = real(f);
      else if (f.name == "decay_mult") p.decay_mult = real(f);
    }
    return p;
  }

  // Every typed parameter message present is read, whatever the layer's type: Caffe keeps them
  // all, and so nothing written is lost on reading.
  void read_typed_param(nn::LayerSpec& layer, const TextField& f) const {
    if (f.name == "convolution_param") read_convolution(message(f), layer.convolution);
    else if (f.name == "pooling_param") read_pooling(message(f), layer.pooling);
    else if (f.name == "inner_product_param") read_inner_product(message(f), layer.inner_product);
    else if (f.name == "lrn_param") read_lrn(message(f), layer.lrn);
    else if (f.name == "dropout_param") read_dropout(message(f), layer.dropout);
    else if (f.name == "relu_param") read_relu(message(f), layer.relu);
    else if (f.name == "softmax_param") read_softmax(message(f), layer.softmax);
    else if (f.name == "batch_norm_param") read_batch_norm(message(f), layer.batch_norm);
    else if (f.name == "scale_param") read_scale(message(f), layer.scale);
    else if (f.name == "eltwise_param") read_eltwise(message(f), layer.eltwise);
    else if (f.name == "concat_param") read_concat(message(f), layer.concat);
    else if (f.name == "flatten_param") read_flatten(message(f), layer.flatten);
    else if (f.name == "reshape_param") read_reshape(message(f), layer.reshape);
    else if (f.name == "input_param") read_input(message(f), layer.input);
    else if (f.name == "latent_param") read_latent(message(f), layer.latent);
  }

  // A filler that is present starts from Caffe's FillerParameter defaults (a missing one keeps
  // the default of the spec that holds it, which may differ: the Latent layer's is gaussian).
  nn::FillerSpec read_filler(const TextField& field) const {
    nn::FillerSpec filler;
    for (const TextField& f : message(field).fields) {
      if (f.name == "type") filler.type = str(f);
      else if (f.name == "value") filler.value = real(f);
      else if (f.name == "min") filler.min = real(f);
      else if (f.name == "max") filler.max = real(f);
      else if (f.name == "mean") filler.mean = real(f);
      else if (f.name == "std") filler.std = real(f);
      else if (f.name == "variance_norm")
        filler.variance_norm = std::string(enum_name(f, caffe::variance_norm_enum()));
    }
    return filler;
  }

  // kernel_size / stride / pad: Caffe allows one repeated field (one value for both axes, or
  // height then width) or the _h / _w pair, not both.
  struct SpatialValues {
    std::vector<int> values;
    std::optional<int> h, w;
    const TextField* at = nullptr;
  };

  bool collect_spatial(const TextField& f, const std::string& base, const std::string& pair_base,
                       SpatialValues& s) const {
    if (f.name == base) s.values.push_back(count(f));
    else if (f.name == pair_base + "_h") s.h = count(f);
    else if (f.name == pair_base + "_w") s.w = count(f);
    else return false;
    if (!s.at) s.at = &f;
    return true;
  }

  void resolve_spatial(const SpatialValues& s, const std::string& base, const std::string& pair_base,
                       bool pair_needs_both, int& h, int& w) const {
    if (!s.at) return;
    const bool pair = s.h || s.w;
    if (!s.values.empty() && pair)
      fail(*s.at, "give " + base + " or " + pair_base + "_h/" + pair_base + "_w, not both");
    if (s.values.size() > 2)
      fail(*s.at, base + " has " + std::to_string(s.values.size()) +
                      " values; only 2-D is supported (one value, or height and width)");
    if (s.values.size() == 1) h = w = s.values[0];
    if (s.values.size() == 2) {
      h = s.values[0];
      w = s.values[1];
    }
    if (pair && pair_needs_both && !(s.h && s.w))
      fail(*s.at, pair_base + "_h and " + pair_base + "_w must be given together");
    if (s.h) h = *s.h;
    if (s.w) w = *s.w;
  }

  void read_convolution(const TextMessage& m, nn::ConvolutionSpec& c) const {
    SpatialValues kernel, stride, pad;
    std::vector<int> dilation;
    const TextField* dilation_at = nullptr;
    for (const TextField& f : m.fields) {
      if (collect_spatial(f, "kernel_size", "kernel", kernel) ||
          collect_spatial(f, "stride", "stride", stride) || collect_spatial(f, "pad", "pad", pad))
        continue;
      if (f.name == "num_output") c.num_output = count(f);
      else if (f.name == "bias_term") c.bias_term = flag(f);
      else if (f.name == "group") c.group = count(f);
      else if (f.name == "weight_filler") c.weight_filler = read_filler(f);
      else if (f.name == "bias_filler") c.bias_filler = read_filler(f);
      else if (f.name == "dilation") {
        dilation.push_back(count(f));
        if (!dilation_at) dilation_at = &f;
      }
    }
    resolve_spatial(kernel, "kernel_size", "kernel", true, c.kernel_h, c.kernel_w);
    resolve_spatial(stride, "stride", "stride", true, c.stride_h, c.stride_w);
    resolve_spatial(pad, "pad", "pad", false, c.pad_h, c.pad_w);
    if (dilation.size() > 2)
      fail(*dilation_at, "dilation has " + std::to_string(dilation.size()) +
                             " values; only 2-D is supported");
    if (dilation.size() == 2 && dilation[0] != dilation[1])
      fail(*dilation_at, "different dilations for height and width are not supported");
    if (!dilation.empty()) c.dilation = dilation[0];
  }

  void read_pooling(const TextMessage& m, nn::PoolingSpec& p) const {
    SpatialValues kernel, stride, pad;
    for (const TextField& f : m.fields) {
      if (collect_spatial(f, "kernel_size", "kernel", kernel) ||
          collect_spatial(f, "stride", "stride", stride) || collect_spatial(f, "pad", "pad", pad))
        continue;
      if (f.name == "pool") {
        const std::string_view method = enum_name(f, caffe::pool_method_enum());
        if (method == "STOCHASTIC")
          fail(f, "STOCHASTIC pooling is not supported (only MAX and AVE)");
        p.method = method == "MAX" ? nn::PoolingSpec::Method::Max : nn::PoolingSpec::Method::Average;
      } else if (f.name == "global_pooling") {
        p.global_pooling = flag(f);
      } else if (f.name == "round_mode") {
        p.round_mode = enum_name(f, caffe::pool_round_mode_enum()) == "FLOOR" ? nn::PoolingSpec::RoundMode::Floor
                                                                            : nn::PoolingSpec::RoundMode::Ceil;
      }
    }
    resolve_spatial(kernel, "kernel_size", "kernel", true, p.kernel_h, p.kernel_w);
    resolve_spatial(stride, "stride", "stride", true, p.stride_h, p.stride_w);
    resolve_spatial(pad, "pad", "pad", false, p.pad_h, p.pad_w);
  }

  void read_inner_product(const TextMessage& m, nn::InnerProductSpec& ip) const {
    for (const TextField& f : m.fields) {
      if (f.name == "num_output") ip.num_output = count(f);
      else if (f.name == "bias_term") ip.bias_term = flag(f);
      else if (f.name == "axis") ip.axis = signed_int(f);
      else if (f.name == "weight_filler") ip.weight_filler = read_filler(f);
      else if (f.name == "bias_filler") ip.bias_filler = read_filler(f);
      else if (f.name == "transpose" && flag(f))
        fail(f, "a transposed inner product (transpose: true) is not supported");
    }
  }

  void read_lrn(const TextMessage& m, nn::LrnSpec& lrn) const {
    for (const TextField& f : m.fields) {
      if (f.name == "local_size") lrn.local_size = count(f);
      else if (f.name == "alpha") lrn.alpha = real(f);
      else if (f.name == "beta") lrn.beta = real(f);
      else if (f.name == "k") lrn.k = real(f);
      else if (f.name == "norm_region" &&
               enum_name(f, caffe::lrn_norm_region_enum()) == "WITHIN_CHANNEL")
        fail(f, "WITHIN_CHANNEL normalisation is not supported (only ACROSS_CHANNELS)");
    }
  }

  void read_dropout(const TextMessage& m, nn::DropoutSpec& d) const {
    for (const TextField& f : m.fields)
      if (f.name == "dropout_ratio") d.ratio = real(f);
  }

  void read_relu(const TextMessage& m, nn::ReluSpec& r) const {
    for (const TextField& f : m.fields)
      if (f.name == "negative_slope") r.negative_slope = real(f);
  }

  void read_softmax(const TextMessage& m, nn::SoftmaxSpec& s) const {
    for (const TextField& f : m.fields) {
      if (f.name == "axis") s.axis = signed_int(f);
      else if (f.name == "label_smoothing") s.label_smoothing = real(f);
    }
  }

  void read_batch_norm(const TextMessage& m, nn::BatchNormSpec& bn) const {
    for (const TextField& f : m.fields) {
      if (f.name == "use_global_stats") bn.use_global_stats = flag(f);
      else if (f.name == "moving_average_fraction") bn.moving_average_fraction = real(f);
      else if (f.name == "eps") bn.eps = real(f);
    }
  }

  void read_scale(const TextMessage& m, nn::ScaleSpec& s) const {
    for (const TextField& f : m.fields) {
      if (f.name == "bias_term") s.bias_term = flag(f);
      else if (f.name == "axis") s.axis = signed_int(f);
      else if (f.name == "filler") s.filler = read_filler(f);
      else if (f.name == "bias_filler") s.bias_filler = read_filler(f);
    }
  }

  void read_eltwise(const TextMessage& m, nn::EltwiseSpec& e) const {
    for (const TextField& f : m.fields) {
      if (f.name == "operation") {
        const std::string_view op = enum_name(f, caffe::eltwise_op_enum());
        e.operation = op == "PROD" ? nn::EltwiseSpec::Operation::Product
                      : op == "MAX" ? nn::EltwiseSpec::Operation::Max
                                    : nn::EltwiseSpec::Operation::Sum;
      } else if (f.name == "coeff") {
        e.coeff.push_back(real(f));
      }
    }
  }

  // `axis` (may count from the end) or the older `concat_dim` (may not), one or the other.
  void read_concat(const TextMessage& m, nn::ConcatSpec& c) const {
    bool axis = false, concat_dim = false;
    for (const TextField& f : m.fields) {
      if (f.name != "axis" && f.name != "concat_dim") continue;
      (f.name == "axis" ? axis : concat_dim) = true;
      if (axis && concat_dim) fail(f, "give axis or concat_dim, not both (as Caffe requires)");
      c.axis = f.name == "axis" ? signed_int(f) : count(f);
    }
  }

  void read_flatten(const TextMessage& m, nn::FlattenSpec& fl) const {
    for (const TextField& f : m.fields) {
      if (f.name == "axis") fl.axis = signed_int(f);
      else if (f.name == "end_axis") fl.end_axis = signed_int(f);
    }
  }

  void read_reshape(const TextMessage& m, nn::ReshapeSpec& r) const {
    for (const TextField& f : m.fields) {
      if (f.name == "shape") r.shape = read_shape(f, /*signed_dims=*/true);
      else if (f.name == "axis") r.axis = signed_int(f);
      else if (f.name == "num_axes") r.num_axes = signed_int(f);
    }
  }

  void read_input(const TextMessage& m, nn::InputSpec& in) const {
    for (const TextField& f : m.fields)
      if (f.name == "shape") in.shapes.push_back(read_shape(f));
  }

  void read_latent(const TextMessage& m, nn::LatentSpec& l) const {
    for (const TextField& f : m.fields) {
      if (f.name == "num_output") l.num_output = count(f);
      else if (f.name == "binarization_weight") l.binarization_weight = real(f);
      else if (f.name == "balance_weight") l.balance_weight = real(f);
      else if (f.name == "weight_filler") l.weight_filler = read_filler(f);
      else if (f.name == "bias_filler") l.bias_filler = read_filler(f);
    }
  }

  const std::string& source_;
};

// --- writing ---

inline bool same_filler(const nn::FillerSpec& a, const nn::FillerSpec& b) {
  return a.type == b.type && a.value == b.value && a.min == b.min && a.max == b.max &&
         a.mean == b.mean && a.std == b.std && a.variance_norm == b.variance_norm;
}

class NetWriter {
 public:
  NetWriter(CaffeFormat format, const std::string& source) : format_(format), source_(source) {}

  TextMessage net_message(const nn::NetSpec& net) const {
    TextMessage m;
    if (!net.name.empty()) m.add_string("name", net.name);
    for (const std::string& input : net.inputs) m.add_string("input", input);
    if (!net.input_shapes.empty() && net.input_shapes.size() != net.inputs.size())
      fail("the net has " + std::to_string(net.inputs.size()) + " inputs but " +
           std::to_string(net.input_shapes.size()) + " input shapes");
    // V1-era readers know only the 4-D input_dim; later ones read either.
    bool all_4d = true;
    for (const auto& shape : net.input_shapes) all_4d = all_4d && shape.size() == 4;
    for (const auto& shape : net.input_shapes) {
      if (format_ == CaffeFormat::V1 && all_4d)
        for (int d : shape) m.add_integer("input_dim", d);
      else
        m.add_message("input_shape", shape_message(shape));
    }
    for (const nn::LayerSpec& layer : net.layers)
      m.add_message(format_ == CaffeFormat::V1 ? "layers" : "layer", layer_message(layer));
    return m;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw Error(source_, problem); }

  static TextMessage shape_message(const std::vector<int>& shape) {
    TextMessage m;
    for (int d : shape) m.add_integer("dim", d);
    return m;
  }

  TextMessage layer_message(const nn::LayerSpec& layer) const {
    const bool v1 = format_ == CaffeFormat::V1;
    TextMessage m;
    if (!layer.name.empty()) m.add_string("name", layer.name);
    if (v1) {
      const caffe::V1LayerType* type = caffe::v1_layer_type_for(layer.type);
      if (!type)
        fail("layer '" + layer.name + "': type '" + layer.type +
             "' has no V1 LayerType; write the net in the current format");
      m.add_identifier("type", std::string(type->enum_name));
    } else {
      if (layer.type.empty()) fail("layer '" + layer.name + "' has no type");
      m.add_string("type", layer.type);
    }
    for (const std::string& b : layer.bottoms) m.add_string("bottom", b);
    for (const std::string& t : layer.tops) m.add_string("top", t);
    if (v1) {
      for (const nn::ParamSpec& p : layer.params) m.add_float("blobs_lr", p.lr_mult);
      for (const nn::ParamSpec& p : layer.params) m.add_float("weight_decay", p.decay_mult);
    } else {
      for (const nn::ParamSpec& p : layer.params)
        m.add_message("param", TextMessage{}
                                   .add_float("lr_mult", p.lr_mult)
                                   .add_float("decay_mult", p.decay_mult));
    }
    for (float w : layer.loss_weights) m.add_float("loss_weight", w);
    if (layer.phase)
      m.add_message("include", TextMessage{}.add_identifier(
                                   "phase", *layer.phase == nn::Phase::Train ? "TRAIN" : "TEST"));

    add_if_not_empty(m, "convolution_param", convolution(layer.convolution), layer);
    add_if_not_empty(m, "pooling_param", pooling(layer.pooling, layer.type == "Pooling"), layer);
    add_if_not_empty(m, "inner_product_param", inner_product(layer.inner_product), layer);
    add_if_not_empty(m, "lrn_param", lrn(layer.lrn), layer);
    add_if_not_empty(m, "dropout_param", dropout(layer.dropout), layer);
    add_if_not_empty(m, "relu_param", relu(layer.relu), layer);
    add_if_not_empty(m, "softmax_param", softmax(layer.softmax), layer);
    add_if_not_empty(m, "batch_norm_param", batch_norm(layer.batch_norm), layer);
    add_if_not_empty(m, "scale_param", scale(layer.scale), layer);
    add_if_not_empty(m, "eltwise_param", eltwise(layer.eltwise), layer);
    add_if_not_empty(m, "concat_param", concat(layer.concat), layer);
    add_if_not_empty(m, "flatten_param", flatten(layer.flatten), layer);
    add_if_not_empty(m, "reshape_param", reshape(layer.reshape), layer);
    add_if_not_empty(m, "input_param", input(layer.input), layer);
    add_if_not_empty(m, "latent_param", latent(layer.latent), layer);
    return m;
  }

  // A parameter message holding only defaults is left out, as Caffe's files do.
  void add_if_not_empty(TextMessage& layer_message, const char* name, TextMessage param,
                        const nn::LayerSpec& layer) const {
    if (param.fields.empty()) return;
    if (format_ == CaffeFormat::V1 && !caffe::v1_layer_schema().find(name))
      fail("layer '" + layer.name + "': V1 layers have no " + name +
           "; write the net in the current format");
    layer_message.add_message(name, std::move(param));
  }

  TextMessage filler(const nn::FillerSpec& f) const {
    const nn::FillerSpec defaults;
    TextMessage m;
    m.add_string("type", f.type);
    if (f.value != defaults.value) m.add_float("value", f.value);
    if (f.min != defaults.min) m.add_float("min", f.min);
    if (f.max != defaults.max) m.add_float("max", f.max);
    if (f.mean != defaults.mean) m.add_float("mean", f.mean);
    if (f.std != defaults.std) m.add_float("std", f.std);
    if (f.variance_norm != defaults.variance_norm) {
      if (!find_enum_value(caffe::variance_norm_enum(), f.variance_norm))
        fail("filler variance_norm '" + f.variance_norm + "' is not FAN_IN, FAN_OUT or AVERAGE");
      m.add_identifier("variance_norm", f.variance_norm);
    }
    return m;
  }

  void add_filler(TextMessage& m, const char* name, const nn::FillerSpec& f,
                  const nn::FillerSpec& default_filler) const {
    if (!same_filler(f, default_filler)) m.add_message(name, filler(f));
  }

  // One value when height and width agree, else the _h / _w pair.
  static void add_spatial(TextMessage& m, const std::string& base, const std::string& pair_base,
                          int h, int w, int default_value) {
    if (h == w) {
      if (h != default_value) m.add_integer(base, h);
    } else {
      m.add_integer(pair_base + "_h", h);
      m.add_integer(pair_base + "_w", w);
    }
  }

  TextMessage convolution(const nn::ConvolutionSpec& c) const {
    const nn::ConvolutionSpec d;
    TextMessage m;
    if (c.num_output != d.num_output) m.add_integer("num_output", c.num_output);
    if (c.bias_term != d.bias_term) m.add_bool("bias_term", c.bias_term);
    add_spatial(m, "kernel_size", "kernel", c.kernel_h, c.kernel_w, 0);
    add_spatial(m, "stride", "stride", c.stride_h, c.stride_w, 1);
    add_spatial(m, "pad", "pad", c.pad_h, c.pad_w, 0);
    if (c.dilation != d.dilation) m.add_integer("dilation", c.dilation);
    if (c.group != d.group) m.add_integer("group", c.group);
    add_filler(m, "weight_filler", c.weight_filler, d.weight_filler);
    add_filler(m, "bias_filler", c.bias_filler, d.bias_filler);
    return m;
  }

  // `pool` is written for every Pooling layer, default or not: OpenCV 4.6 refuses a global pooling
  // layer without it. (Other layers carry it only when it is not the default.)
  TextMessage pooling(const nn::PoolingSpec& p, bool pooling_layer) const {
    const nn::PoolingSpec d;
    TextMessage m;
    if (pooling_layer || p.method != d.method)
      m.add_identifier("pool", p.method == nn::PoolingSpec::Method::Max ? "MAX" : "AVE");
    add_spatial(m, "kernel_size", "kernel", p.kernel_h, p.kernel_w, 0);
    add_spatial(m, "stride", "stride", p.stride_h, p.stride_w, 1);
    add_spatial(m, "pad", "pad", p.pad_h, p.pad_w, 0);
    if (p.global_pooling != d.global_pooling) m.add_bool("global_pooling", p.global_pooling);
    if (p.round_mode != d.round_mode) m.add_identifier("round_mode", "FLOOR");
    return m;
  }

  TextMessage inner_product(const nn::InnerProductSpec& ip) const {
    const nn::InnerProductSpec d;
    TextMessage m;
    if (ip.num_output != d.num_output) m.add_integer("num_output", ip.num_output);
    if (ip.bias_term != d.bias_term) m.add_bool("bias_term", ip.bias_term);
    if (ip.axis != d.axis) m.add_integer("axis", ip.axis);
    add_filler(m, "weight_filler", ip.weight_filler, d.weight_filler);
    add_filler(m, "bias_filler", ip.bias_filler, d.bias_filler);
    return m;
  }

  TextMessage lrn(const nn::LrnSpec& l) const {
    const nn::LrnSpec d;
    TextMessage m;
    if (l.local_size != d.local_size) m.add_integer("local_size", l.local_size);
    if (l.alpha != d.alpha) m.add_float("alpha", l.alpha);
    if (l.beta != d.beta) m.add_float("beta", l.beta);
    if (l.k != d.k) m.add_float("k", l.k);
    return m;
  }

  TextMessage dropout(const nn::DropoutSpec& s) const {
    TextMessage m;
    if (s.ratio != nn::DropoutSpec{}.ratio) m.add_float("dropout_ratio", s.ratio);
    return m;
  }

  TextMessage relu(const nn::ReluSpec& s) const {
    TextMessage m;
    if (s.negative_slope != nn::ReluSpec{}.negative_slope)
      m.add_float("negative_slope", s.negative_slope);
    return m;
  }

  TextMessage softmax(const nn::SoftmaxSpec& s) const {
    TextMessage m;
    if (s.axis != nn::SoftmaxSpec{}.axis) m.add_integer("axis", s.axis);
    if (s.label_smoothing != nn::SoftmaxSpec{}.label_smoothing) m.add_float("label_smoothing", s.label_smoothing);
    return m;
  }

  TextMessage batch_norm(const nn::BatchNormSpec& bn) const {
    const nn::BatchNormSpec d;
    TextMessage m;
    if (bn.use_global_stats) m.add_bool("use_global_stats", *bn.use_global_stats);
    if (bn.moving_average_fraction != d.moving_average_fraction)
      m.add_float("moving_average_fraction", bn.moving_average_fraction);
    if (bn.eps != d.eps) m.add_float("eps", bn.eps);
    return m;
  }

  TextMessage scale(const nn::ScaleSpec& s) const {
    const nn::ScaleSpec d;
    TextMessage m;
    if (s.axis != d.axis) m.add_integer("axis", s.axis);
    add_filler(m, "filler", s.filler, d.filler);
    if (s.bias_term != d.bias_term) m.add_bool("bias_term", s.bias_term);
    add_filler(m, "bias_filler", s.bias_filler, d.bias_filler);
    return m;
  }

  TextMessage eltwise(const nn::EltwiseSpec& e) const {
    TextMessage m;
    if (e.operation != nn::EltwiseSpec{}.operation)
      m.add_identifier("operation", e.operation == nn::EltwiseSpec::Operation::Product ? "PROD"
                                    : e.operation == nn::EltwiseSpec::Operation::Max   ? "MAX"
                                                                                       : "SUM");
    for (float c : e.coeff) m.add_float("coeff", c);
    return m;
  }

  // V1-era readers know the axis only as concat_dim, which cannot count from the end.
  TextMessage concat(const nn::ConcatSpec& c) const {
    TextMessage m;
    if (c.axis == nn::ConcatSpec{}.axis) return m;
    if (format_ == CaffeFormat::V1 && c.axis >= 0) m.add_integer("concat_dim", c.axis);
    else m.add_integer("axis", c.axis);
    return m;
  }

  TextMessage flatten(const nn::FlattenSpec& fl) const {
    const nn::FlattenSpec d;
    TextMessage m;
    if (fl.axis != d.axis) m.add_integer("axis", fl.axis);
    if (fl.end_axis != d.end_axis) m.add_integer("end_axis", fl.end_axis);
    return m;
  }

  TextMessage reshape(const nn::ReshapeSpec& r) const {
    const nn::ReshapeSpec d;
    TextMessage m;
    if (!r.shape.empty()) m.add_message("shape", shape_message(r.shape));
    if (r.axis != d.axis) m.add_integer("axis", r.axis);
    if (r.num_axes != d.num_axes) m.add_integer("num_axes", r.num_axes);
    return m;
  }

  TextMessage input(const nn::InputSpec& in) const {
    TextMessage m;
    for (const auto& shape : in.shapes) m.add_message("shape", shape_message(shape));
    return m;
  }

  TextMessage latent(const nn::LatentSpec& l) const {
    const nn::LatentSpec d;
    TextMessage m;
    if (l.num_output != d.num_output) m.add_integer("num_output", l.num_output);
    add_filler(m, "weight_filler", l.weight_filler, d.weight_filler);
    add_filler(m, "bias_filler", l.bias_filler, d.bias_filler);
    if (l.binarization_weight != d.binarization_weight)
      m.add_float("binarization_weight", l.binarization_weight);
    if (l.balance_weight != d.balance_weight) m.add_float("balance_weight", l.balance_weight);
    return m;
  }

  CaffeFormat format_;
  const std::string& source_;
};

}  // namespace caffe_detail

// Interprets a NetParameter tree (from parse_text_message or the binary decoder); `source` names
// the file in errors.
inline nn::NetSpec parse_caffe_net(const TextMessage& net, const std::string& source) {
  return caffe_detail::NetReader(source).read_net(net);
}

// The NetParameter tree of `net`, in the current or the V1 form. Throws Error(source, ...) for
// what the form cannot express (a type V1 has no enum for, input shapes that do not match the
// inputs). `source` names the destination in errors.
inline TextMessage caffe_net_message(const nn::NetSpec& net, CaffeFormat format = CaffeFormat::Current,
                                     const std::string& source = "caffe_net_message") {
  return caffe_detail::NetWriter(format, source).net_message(net);
}

}  // namespace deephash
