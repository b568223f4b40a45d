#pragma once
// The part of Caffe's caffe.proto that deephash reads and writes: field numbers, types and enum
// values of NetParameter, LayerParameter, V1LayerParameter and the layer parameter messages we
// use, plus the mapping from V1's LayerType enum to the type strings of current Caffe. These are
// facts of the file format (BVLC Caffe, src/caffe/proto/caffe.proto); fields not listed here are
// skipped when reading binary files and ignored when reading text.
//
// deephash's own "Latent" layer has a `latent_param` message of its own. Its field number,
// kLatentParamField, lies far above any that Caffe or its well-known forks use, so that Caffe
// readers (OpenCV included) skip it as an unknown field.
//
// Blobs are not in these tables: the caffemodel reader takes them straight from the wire, so
// hundreds of megabytes of weights never pass through the generic tree.

#include <cstdint>
#include <string_view>
#include <vector>

#include "deephash/io/protobuf/schema.hpp"

namespace deephash::caffe {

// --- enums ---

inline const EnumTable& phase_enum() {
  static const EnumTable table{{"TRAIN", 0}, {"TEST", 1}};
  return table;
}
inline const EnumTable& pool_method_enum() {
  static const EnumTable table{{"MAX", 0}, {"AVE", 1}, {"STOCHASTIC", 2}};
  return table;
}
inline const EnumTable& pool_round_mode_enum() {
  static const EnumTable table{{"CEIL", 0}, {"FLOOR", 1}};
  return table;
}
inline const EnumTable& lrn_norm_region_enum() {
  static const EnumTable table{{"ACROSS_CHANNELS", 0}, {"WITHIN_CHANNEL", 1}};
  return table;
}
inline const EnumTable& eltwise_op_enum() {
  static const EnumTable table{{"PROD", 0}, {"SUM", 1}, {"MAX", 2}};
  return table;
}
inline const EnumTable& variance_norm_enum() {
  static const EnumTable table{{"FAN_IN", 0}, {"FAN_OUT", 1}, {"AVERAGE", 2}};
  return table;
}

// V1LayerParameter.LayerType and the type string each became in the current format.
struct V1LayerType {
  std::string_view enum_name;
  int number;
  std::string_view type;  // empty for NONE
};

inline const std::vector<V1LayerType>& v1_layer_types() {
  static const std::vector<V1LayerType> table{
      {"NONE", 0, ""},
      {"ABSVAL", 35, "AbsVal"},
      {"ACCURACY", 1, "Accuracy"},
      {"ARGMAX", 30, "ArgMax"},
      {"BNLL", 2, "BNLL"},
      {"CONCAT", 3, "Concat"},
      {"CONTRASTIVE_LOSS", 37, "ContrastiveLoss"},
      {"CONVOLUTION", 4, "Convolution"},
      {"DATA", 5, "Data"},
      {"DECONVOLUTION", 39, "Deconvolution"},
      {"DROPOUT", 6, "Dropout"},
      {"DUMMY_DATA", 32, "DummyData"},
      {"EUCLIDEAN_LOSS", 7, "EuclideanLoss"},
      {"ELTWISE", 25, "Eltwise"},
      {"EXP", 38, "Exp"},
      {"FLATTEN", 8, "Flatten"},
      {"HDF5_DATA", 9, "HDF5Data"},
      {"HDF5_OUTPUT", 10, "HDF5Output"},
      {"HINGE_LOSS", 28, "HingeLoss"},
      {"IM2COL", 11, "Im2col"},
      {"IMAGE_DATA", 12, "ImageData"},
      {"INFOGAIN_LOSS", 13, "InfogainLoss"},
      {"INNER_PRODUCT", 14, "InnerProduct"},
      {"LRN", 15, "LRN"},
      {"MEMORY_DATA", 29, "MemoryData"},
      {"MULTINOMIAL_LOGISTIC_LOSS", 16, "MultinomialLogisticLoss"},
      {"MVN", 34, "MVN"},
      {"POOLING", 17, "Pooling"},
      {"POWER", 26, "Power"},
      {"RELU", 18, "ReLU"},
      {"SIGMOID", 19, "Sigmoid"},
      {"SIGMOID_CROSS_ENTROPY_LOSS", 27, "SigmoidCrossEntropyLoss"},
      {"SILENCE", 36, "Silence"},
      {"SOFTMAX", 20, "Softmax"},
      {"SOFTMAX_LOSS", 21, "SoftmaxWithLoss"},
      {"SPLIT", 22, "Split"},
      {"SLICE", 33, "Slice"},
      {"TANH", 23, "TanH"},
      {"WINDOW_DATA", 24, "WindowData"},
      {"THRESHOLD", 31, "Threshold"},
  };
  return table;
}

inline const EnumTable& v1_layer_type_enum() {
  static const EnumTable table = [] {
    EnumTable t;
    for (const V1LayerType& v : v1_layer_types()) t.push_back({v.enum_name, v.number});
    return t;
  }();
  return table;
}

// The V1 entry whose current type string is `type`, or nullptr when V1 has none.
inline const V1LayerType* v1_layer_type_for(std::string_view type) {
  if (type.empty()) return nullptr;
  for (const V1LayerType& v : v1_layer_types())
    if (v.type == type) return &v;
  return nullptr;
}
inline const V1LayerType* v1_layer_type_for(int number) {
  for (const V1LayerType& v : v1_layer_types())
    if (v.number == number) return &v;
  return nullptr;
}

// --- field numbers used outside the tables ---

inline constexpr std::uint32_t kNetLayerField = 100;   // NetParameter.layer (LayerParameter)
inline constexpr std::uint32_t kNetV1LayersField = 2;  // NetParameter.layers (V1LayerParameter)
inline constexpr std::uint32_t kLayerBlobsField = 7;   // LayerParameter.blobs
inline constexpr std::uint32_t kV1LayerBlobsField = 6; // V1LayerParameter.blobs
inline constexpr std::uint32_t kLatentParamField = 6048;  // deephash's LayerParameter.latent_param
// deephash's SoftmaxParameter.label_smoothing (for SoftmaxWithLoss), numbered far from Caffe's
// fields for the same reason.
inline constexpr std::uint32_t kLabelSmoothingField = 6048;

// BlobProto and BlobShape.
inline constexpr std::uint32_t kBlobNumField = 1;
inline constexpr std::uint32_t kBlobChannelsField = 2;
inline constexpr std::uint32_t kBlobHeightField = 3;
inline constexpr std::uint32_t kBlobWidthField = 4;
inline constexpr std::uint32_t kBlobDataField = 5;
inline constexpr std::uint32_t kBlobShapeField = 7;
inline constexpr std::uint32_t kBlobDoubleDataField = 8;
inline constexpr std::uint32_t kBlobShapeDimField = 1;

// --- messages ---

namespace schema_table {
inline FieldSchema scalar(std::uint32_t number, const char* name, FieldKind kind, bool packed = false) {
  return FieldSchema{number, name, kind, nullptr, nullptr, packed};
}
inline FieldSchema message(std::uint32_t number, const char* name, const MessageSchema& m) {
  return FieldSchema{number, name, FieldKind::Message, &m, nullptr, false};
}
inline FieldSchema enumeration(std::uint32_t number, const char* name, const EnumTable& e) {
  return FieldSchema{number, name, FieldKind::Enum, nullptr, &e, false};
}
}  // namespace schema_table

inline const MessageSchema& blob_shape_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.BlobShape", {scalar(1, "dim", FieldKind::Int64, true)}};
  return s;
}

inline const MessageSchema& filler_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.FillerParameter",
                               {scalar(1, "type", FieldKind::String),
                                scalar(2, "value", FieldKind::Float),
                                scalar(3, "min", FieldKind::Float),
                                scalar(4, "max", FieldKind::Float),
                                scalar(5, "mean", FieldKind::Float),
                                scalar(6, "std", FieldKind::Float),
                                enumeration(8, "variance_norm", variance_norm_enum())}};
  return s;
}

inline const MessageSchema& param_spec_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.ParamSpec",
                               {scalar(1, "name", FieldKind::String),
                                scalar(3, "lr_mult", FieldKind::Float),
                                scalar(4, "decay_mult", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& net_state_rule_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.NetStateRule", {enumeration(1, "phase", phase_enum())}};
  return s;
}

inline const MessageSchema& convolution_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.ConvolutionParameter",
                               {scalar(1, "num_output", FieldKind::UInt32),
                                scalar(2, "bias_term", FieldKind::Bool),
                                scalar(3, "pad", FieldKind::UInt32),
                                scalar(4, "kernel_size", FieldKind::UInt32),
                                scalar(5, "group", FieldKind::UInt32),
                                scalar(6, "stride", FieldKind::UInt32),
                                message(7, "weight_filler", filler_schema()),
                                message(8, "bias_filler", filler_schema()),
                                scalar(9, "pad_h", FieldKind::UInt32),
                                scalar(10, "pad_w", FieldKind::UInt32),
                                scalar(11, "kernel_h", FieldKind::UInt32),
                                scalar(12, "kernel_w", FieldKind::UInt32),
                                scalar(13, "stride_h", FieldKind::UInt32),
                                scalar(14, "stride_w", FieldKind::UInt32),
                                scalar(16, "axis", FieldKind::Int32),
                                scalar(18, "dilation", FieldKind::UInt32)}};
  return s;
}

inline const MessageSchema& pooling_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.PoolingParameter",
                               {enumeration(1, "pool", pool_method_enum()),
                                scalar(2, "kernel_size", FieldKind::UInt32),
                                scalar(3, "stride", FieldKind::UInt32),
                                scalar(4, "pad", FieldKind::UInt32),
                                scalar(5, "kernel_h", FieldKind::UInt32),
                                scalar(6, "kernel_w", FieldKind::UInt32),
                                scalar(7, "stride_h", FieldKind::UInt32),
                                scalar(8, "stride_w", FieldKind::UInt32),
                                scalar(9, "pad_h", FieldKind::UInt32),
                                scalar(10, "pad_w", FieldKind::UInt32),
                                scalar(12, "global_pooling", FieldKind::Bool),
                                enumeration(13, "round_mode", pool_round_mode_enum())}};
  return s;
}

inline const MessageSchema& inner_product_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.InnerProductParameter",
                               {scalar(1, "num_output", FieldKind::UInt32),
                                scalar(2, "bias_term", FieldKind::Bool),
                                message(3, "weight_filler", filler_schema()),
                                message(4, "bias_filler", filler_schema()),
                                scalar(5, "axis", FieldKind::Int32),
                                scalar(6, "transpose", FieldKind::Bool)}};
  return s;
}

inline const MessageSchema& lrn_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.LRNParameter",
                               {scalar(1, "local_size", FieldKind::UInt32),
                                scalar(2, "alpha", FieldKind::Float),
                                scalar(3, "beta", FieldKind::Float),
                                enumeration(4, "norm_region", lrn_norm_region_enum()),
                                scalar(5, "k", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& dropout_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.DropoutParameter",
                               {scalar(1, "dropout_ratio", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& relu_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.ReLUParameter",
                               {scalar(1, "negative_slope", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& softmax_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.SoftmaxParameter",
                               {scalar(2, "axis", FieldKind::Int32),
                                scalar(kLabelSmoothingField, "label_smoothing", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& batch_norm_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.BatchNormParameter",
                               {scalar(1, "use_global_stats", FieldKind::Bool),
                                scalar(2, "moving_average_fraction", FieldKind::Float),
                                scalar(3, "eps", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& scale_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.ScaleParameter",
                               {scalar(1, "axis", FieldKind::Int32),
                                scalar(2, "num_axes", FieldKind::Int32),
                                message(3, "filler", filler_schema()),
                                scalar(4, "bias_term", FieldKind::Bool),
                                message(5, "bias_filler", filler_schema())}};
  return s;
}

inline const MessageSchema& eltwise_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.EltwiseParameter",
                               {enumeration(1, "operation", eltwise_op_enum()),
                                scalar(2, "coeff", FieldKind::Float)}};
  return s;
}

inline const MessageSchema& concat_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.ConcatParameter",
                               {scalar(1, "concat_dim", FieldKind::UInt32),
                                scalar(2, "axis", FieldKind::Int32)}};
  return s;
}

inline const MessageSchema& flatten_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.FlattenParameter",
                               {scalar(1, "axis", FieldKind::Int32),
                                scalar(2, "end_axis", FieldKind::Int32)}};
  return s;
}

inline const MessageSchema& reshape_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.ReshapeParameter",
                               {message(1, "shape", blob_shape_schema()),
                                scalar(2, "axis", FieldKind::Int32),
                                scalar(3, "num_axes", FieldKind::Int32)}};
  return s;
}

inline const MessageSchema& input_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.InputParameter", {message(1, "shape", blob_shape_schema())}};
  return s;
}

inline const MessageSchema& latent_schema() {
  using namespace schema_table;
  static const MessageSchema s{"deephash.LatentParameter",
                               {scalar(1, "num_output", FieldKind::UInt32),
                                message(2, "weight_filler", filler_schema()),
                                message(3, "bias_filler", filler_schema()),
                                scalar(4, "binarization_weight", FieldKind::Float),
                                scalar(5, "balance_weight", FieldKind::Float)}};
  return s;
}

// V0LayerParameter: listed only so that a V0 net is recognised (and refused), never read.
inline const MessageSchema& v0_layer_schema() {
  static const MessageSchema s{"caffe.V0LayerParameter", {}};
  return s;
}

inline const MessageSchema& layer_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.LayerParameter",
                               {scalar(1, "name", FieldKind::String),
                                scalar(2, "type", FieldKind::String),
                                scalar(3, "bottom", FieldKind::String),
                                scalar(4, "top", FieldKind::String),
                                scalar(5, "loss_weight", FieldKind::Float),
                                message(6, "param", param_spec_schema()),
                                message(8, "include", net_state_rule_schema()),
                                message(9, "exclude", net_state_rule_schema()),
                                message(104, "concat_param", concat_schema()),
                                message(106, "convolution_param", convolution_schema()),
                                message(108, "dropout_param", dropout_schema()),
                                message(110, "eltwise_param", eltwise_schema()),
                                message(117, "inner_product_param", inner_product_schema()),
                                message(118, "lrn_param", lrn_schema()),
                                message(121, "pooling_param", pooling_schema()),
                                message(123, "relu_param", relu_schema()),
                                message(125, "softmax_param", softmax_schema()),
                                message(133, "reshape_param", reshape_schema()),
                                message(135, "flatten_param", flatten_schema()),
                                message(139, "batch_norm_param", batch_norm_schema()),
                                message(142, "scale_param", scale_schema()),
                                message(143, "input_param", input_schema()),
                                message(kLatentParamField, "latent_param", latent_schema())}};
  return s;
}

inline const MessageSchema& v1_layer_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.V1LayerParameter",
                               {message(1, "layer", v0_layer_schema()),
                                scalar(2, "bottom", FieldKind::String),
                                scalar(3, "top", FieldKind::String),
                                scalar(4, "name", FieldKind::String),
                                enumeration(5, "type", v1_layer_type_enum()),
                                scalar(7, "blobs_lr", FieldKind::Float),
                                scalar(8, "weight_decay", FieldKind::Float),
                                message(9, "concat_param", concat_schema()),
                                message(10, "convolution_param", convolution_schema()),
                                message(12, "dropout_param", dropout_schema()),
                                message(17, "inner_product_param", inner_product_schema()),
                                message(18, "lrn_param", lrn_schema()),
                                message(19, "pooling_param", pooling_schema()),
                                message(24, "eltwise_param", eltwise_schema()),
                                message(30, "relu_param", relu_schema()),
                                message(32, "include", net_state_rule_schema()),
                                message(33, "exclude", net_state_rule_schema()),
                                scalar(35, "loss_weight", FieldKind::Float),
                                message(39, "softmax_param", softmax_schema())}};
  return s;
}

inline const MessageSchema& net_schema() {
  using namespace schema_table;
  static const MessageSchema s{"caffe.NetParameter",
                               {scalar(1, "name", FieldKind::String),
                                message(kNetV1LayersField, "layers", v1_layer_schema()),
                                scalar(3, "input", FieldKind::String),
                                scalar(4, "input_dim", FieldKind::Int64),
                                message(8, "input_shape", blob_shape_schema()),
                                message(kNetLayerField, "layer", layer_schema())}};
  return s;
}

}  // namespace deephash::caffe
