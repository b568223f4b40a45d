#pragma once
// Every layer type deephash runs, in one list: the name a prototxt gives it and the class template
// that implements it on the CPU. The CPU factory (layer_factory.hpp), the list of supported types
// in its error message and the GPU module's factory all walk this list, so a new type is one line
// here plus its implementations. A constant list, not a registry that layers add themselves to at
// start-up: no global mutable state, and the whole set is visible in one place.

#include <string>
#include <string_view>
#include <tuple>

#include "deephash/nn/layers/activations.hpp"
#include "deephash/nn/layers/batch_norm.hpp"
#include "deephash/nn/layers/concat.hpp"
#include "deephash/nn/layers/convolution.hpp"
#include "deephash/nn/layers/eltwise.hpp"
#include "deephash/nn/layers/inner_product.hpp"
#include "deephash/nn/layers/latent.hpp"
#include "deephash/nn/layers/lrn.hpp"
#include "deephash/nn/layers/pooling.hpp"
#include "deephash/nn/layers/reshape.hpp"
#include "deephash/nn/layers/softmax.hpp"

namespace deephash::nn {

// One entry of kLayerTypes: the name, and as the template argument the CPU class, which a factory
// recovers by deduction (see make_layer and the GPU module's make_gpu_layer).
template <template <class Scalar> class CpuLayer>
struct LayerType {
  std::string_view name;
};

inline constexpr std::tuple kLayerTypes{
    LayerType<ConvolutionLayer>{"Convolution"},
    LayerType<PoolingLayer>{"Pooling"},
    LayerType<ReluLayer>{"ReLU"},
    LayerType<SigmoidLayer>{"Sigmoid"},
    LayerType<LrnLayer>{"LRN"},
    LayerType<InnerProductLayer>{"InnerProduct"},
    LayerType<LatentLayer>{"Latent"},
    LayerType<DropoutLayer>{"Dropout"},
    LayerType<SoftmaxLayer>{"Softmax"},
    LayerType<SoftmaxWithLossLayer>{"SoftmaxWithLoss"},
    LayerType<AccuracyLayer>{"Accuracy"},
    LayerType<BatchNormLayer>{"BatchNorm"},
    LayerType<ScaleLayer>{"Scale"},
    LayerType<EltwiseLayer>{"Eltwise"},
    LayerType<SplitLayer>{"Split"},
    LayerType<ConcatLayer>{"Concat"},
    LayerType<FlattenLayer>{"Flatten"},
    LayerType<ReshapeLayer>{"Reshape"},
};

// Layer types that only declare inputs (fed by the caller, not computed): they make no layer.
inline constexpr std::string_view kInputLayerTypes[] = {"Input",   "Data",       "ImageData", "MemoryData",
                                                        "HDF5Data", "WindowData", "DummyData"};

inline bool is_input_type(std::string_view type) {
  for (std::string_view input : kInputLayerTypes)
    if (type == input) return true;
  return false;
}

// Calls visit(entry) with the entry of kLayerTypes named `name`; false if no entry has that name.
template <class Visit>
bool visit_layer_type(std::string_view name, Visit&& visit) {
  return std::apply([&](const auto&... type) { return ((type.name == name ? (visit(type), true) : false) || ...); },
                    kLayerTypes);
}

// "Convolution, Pooling, ..., and the input types Input, Data, ...", for error messages.
inline std::string supported_layer_types() {
  std::string text;
  std::apply([&](const auto&... type) { ((text.append(type.name).append(", ")), ...); }, kLayerTypes);
  text += "and the input types ";
  for (std::string_view input : kInputLayerTypes) text.append(input).append(", ");
  text.resize(text.size() - 2);
  return text;
}

}  // namespace deephash::nn
