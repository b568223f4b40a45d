#pragma once
// The description of a network, apart from any implementation: what the Caffe prototxt and
// caffemodel readers produce, what deephash's model files store (as prototxt text), and what the
// Net builder consumes. Names and defaults follow Caffe's LayerParameter, so that a Caffe net
// reads without surprises; the "Latent" layer is deephash's own (inner product + sigmoid, the
// paper's hash layer, with the optional SSDH losses).

#include <optional>
#include <string>
#include <vector>

namespace deephash::nn {

enum class Phase { Train, Test };

// How to initialise a parameter blob (Caffe's FillerParameter).
struct FillerSpec {
  std::string type = "constant";  // constant, gaussian, uniform, xavier, msra
  float value = 0;                // constant
  float min = 0, max = 1;         // uniform
  float mean = 0, std = 1;        // gaussian
  std::string variance_norm = "FAN_IN";  // xavier, msra: FAN_IN, FAN_OUT or AVERAGE
};

// Learning-rate and weight-decay multipliers of one parameter blob.
struct ParamSpec {
  float lr_mult = 1;
  float decay_mult = 1;
};

struct ConvolutionSpec {
  int num_output = 0;
  bool bias_term = true;
  int kernel_h = 0, kernel_w = 0;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation = 1;
  int group = 1;
  FillerSpec weight_filler, bias_filler;
};

struct PoolingSpec {
  enum class Method { Max, Average };
  // How the output size rounds (H + 2 pad - kernel) / stride: Caffe's default is up (CEIL);
  // round_mode: FLOOR, in Caffe since 2017, rounds down as most other frameworks do.
  enum class RoundMode { Ceil, Floor };
  Method method = Method::Max;
  int kernel_h = 0, kernel_w = 0;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  bool global_pooling = false;
  RoundMode round_mode = RoundMode::Ceil;
};

struct InnerProductSpec {
  int num_output = 0;
  bool bias_term = true;
  int axis = 1;  // dimensions from `axis` on are flattened into one input vector
  FillerSpec weight_filler, bias_filler;
};

// Local response normalisation (Caffe's LRN; only ACROSS_CHANNELS is supported).
struct LrnSpec {
  int local_size = 5;
  float alpha = 1, beta = 0.75f, k = 1;
};

struct DropoutSpec {
  float ratio = 0.5f;
};

struct ReluSpec {
  float negative_slope = 0;
};

struct SoftmaxSpec {
  int axis = 1;
  // deephash's extension for SoftmaxWithLoss: the target puts 1 - s on the label and s / C on
  // every one of the C classes (label smoothing; 0: Caffe's one-hot target).
  float label_smoothing = 0;
};

// Caffe's BatchNorm: normalisation with running statistics, no learned scale or shift (a Scale
// layer follows it). use_global_stats defaults to true in the test phase, false in training.
struct BatchNormSpec {
  std::optional<bool> use_global_stats;
  float moving_average_fraction = 0.999f;
  float eps = 1e-5f;
};

// Per-channel scale (and optional bias), the learned part of batch normalisation.
struct ScaleSpec {
  bool bias_term = false;
  int axis = 1;
  FillerSpec filler{"constant", 1};
  FillerSpec bias_filler;
};

struct EltwiseSpec {
  enum class Operation { Product, Sum, Max };
  Operation operation = Operation::Sum;
  std::vector<float> coeff;  // for Sum: one coefficient per bottom (default all 1)
};

// Caffe's Concat: the inputs joined along `axis` (negative: counted from the end); every other
// axis must agree. Old files give the axis as `concat_dim`, which the reader takes into `axis`.
struct ConcatSpec {
  int axis = 1;
};

// Caffe's Flatten: the axes from `axis` to `end_axis` (both included; negative: counted from the
// end) become one.
struct FlattenSpec {
  int axis = 1;
  int end_axis = -1;
};

// Caffe's Reshape: the input axes from `axis` on, `num_axes` of them (-1: all the rest; a
// negative `axis` counts from the end, -1 being after the last), are replaced by `shape`. In
// `shape`, 0 copies the input's dimension at that position and one -1 is inferred from the count.
struct ReshapeSpec {
  std::vector<int> shape;
  int axis = 0;
  int num_axes = -1;
};

// deephash's latent hash layer: inner product + sigmoid. The optional losses of the authors'
// journal follow-up (SSDH, Yang et al. 2017) push activations towards 0 or 1, and each code
// towards having half of its bits set; both are off (weight 0) by default. They are reported as
// a second top (a scalar loss) when the layer has one.
struct LatentSpec {
  int num_output = 48;
  FillerSpec weight_filler{"gaussian", 0, 0, 1, 0, 0.005f};
  FillerSpec bias_filler{"constant", 1};
  float binarization_weight = 0;  // loss: -mean over samples and units of (a - 0.5)^2
  float balance_weight = 0;       // loss: mean over samples of (mean over units of a - 0.5)^2
};

// Declares network inputs (Caffe's Input layer, or the net-level input / input_dim fields).
struct InputSpec {
  std::vector<std::vector<int>> shapes;  // one per top
};

struct LayerSpec {
  std::string name;
  std::string type;  // Caffe's new-style type names: "Convolution", "ReLU", "Pooling", "LRN",
                     // "InnerProduct", "Dropout", "Sigmoid", "Softmax", "SoftmaxWithLoss",
                     // "BatchNorm", "Scale", "Eltwise", "Concat", "Flatten", "Reshape",
                     // "Input", "Accuracy"; and "Latent"
  std::vector<std::string> bottoms, tops;
  std::vector<ParamSpec> params;   // per parameter blob; missing entries take the defaults
  std::vector<float> loss_weights; // per top; empty: the layer type's default
  std::optional<Phase> phase;      // include { phase: ... }: only in that phase

  ConvolutionSpec convolution;
  PoolingSpec pooling;
  InnerProductSpec inner_product;
  LrnSpec lrn;
  DropoutSpec dropout;
  ReluSpec relu;
  SoftmaxSpec softmax;
  BatchNormSpec batch_norm;
  ScaleSpec scale;
  EltwiseSpec eltwise;
  ConcatSpec concat;
  FlattenSpec flatten;
  ReshapeSpec reshape;
  LatentSpec latent;
  InputSpec input;
};

struct NetSpec {
  std::string name;
  // Net-level inputs (the old `input:` / `input_dim:` / `input_shape` fields). Input layers in
  // `layers` are the other way to declare them.
  std::vector<std::string> inputs;
  std::vector<std::vector<int>> input_shapes;
  std::vector<LayerSpec> layers;
};

// One named parameter blob set, as stored in a .caffemodel or a deephash model file: the blobs
// of layer `layer`, in the layer's order (e.g. weights then bias).
struct WeightBlob {
  std::vector<int> shape;
  std::vector<float> data;
};
struct LayerWeights {
  std::string layer;
  std::vector<WeightBlob> blobs;
};

}  // namespace deephash::nn
