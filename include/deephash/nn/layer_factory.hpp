#pragma once
// Makes the layer a LayerSpec's type names. A plain switch: no registry, no global state.

#include <memory>

#include "deephash/nn/layers/activations.hpp"
#include "deephash/nn/layers/batch_norm.hpp"
#include "deephash/nn/layers/convolution.hpp"
#include "deephash/nn/layers/eltwise.hpp"
#include "deephash/nn/layers/inner_product.hpp"
#include "deephash/nn/layers/latent.hpp"
#include "deephash/nn/layers/lrn.hpp"
#include "deephash/nn/layers/pooling.hpp"
#include "deephash/nn/layers/softmax.hpp"

namespace deephash::nn {

// Layer types that only declare inputs (fed by the caller, not computed).
inline bool is_input_type(const std::string& type) {
  return type == "Input" || type == "Data" || type == "ImageData" || type == "MemoryData" ||
         type == "HDF5Data" || type == "WindowData" || type == "DummyData";
}

inline const char* kSupportedLayerTypes =
    "Convolution, Pooling, ReLU, Sigmoid, LRN, InnerProduct, Latent, Dropout, Softmax, SoftmaxWithLoss, "
    "Accuracy, BatchNorm, Scale, Eltwise, Split, and the input types Input, Data, ImageData, MemoryData, "
    "HDF5Data, WindowData, DummyData";

template <class Scalar>
std::unique_ptr<Layer<Scalar>> make_layer(const LayerSpec& spec) {
  const std::string& t = spec.type;
  if (t == "Convolution") return std::make_unique<ConvolutionLayer<Scalar>>(spec);
  if (t == "Pooling") return std::make_unique<PoolingLayer<Scalar>>(spec);
  if (t == "ReLU") return std::make_unique<ReluLayer<Scalar>>(spec);
  if (t == "Sigmoid") return std::make_unique<SigmoidLayer<Scalar>>(spec);
  if (t == "LRN") return std::make_unique<LrnLayer<Scalar>>(spec);
  if (t == "InnerProduct") return std::make_unique<InnerProductLayer<Scalar>>(spec);
  if (t == "Latent") return std::make_unique<LatentLayer<Scalar>>(spec);
  if (t == "Dropout") return std::make_unique<DropoutLayer<Scalar>>(spec);
  if (t == "Softmax") return std::make_unique<SoftmaxLayer<Scalar>>(spec);
  if (t == "SoftmaxWithLoss") return std::make_unique<SoftmaxWithLossLayer<Scalar>>(spec);
  if (t == "Accuracy") return std::make_unique<AccuracyLayer<Scalar>>(spec);
  if (t == "BatchNorm") return std::make_unique<BatchNormLayer<Scalar>>(spec);
  if (t == "Scale") return std::make_unique<ScaleLayer<Scalar>>(spec);
  if (t == "Eltwise") return std::make_unique<EltwiseLayer<Scalar>>(spec);
  if (t == "Split") return std::make_unique<SplitLayer<Scalar>>(spec);
  throw Error("layer '" + spec.name + "'", "unsupported layer type '" + t + "'; supported: " + kSupportedLayerTypes);
}

}  // namespace deephash::nn
