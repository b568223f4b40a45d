#pragma once
// Makes the layer a LayerSpec's type names, from the one list of layer types (layer_types.hpp).

#include <memory>

#include "deephash/nn/layer_types.hpp"

namespace deephash::nn {

template <class Scalar, template <class> class CpuLayer>
std::unique_ptr<Layer<Scalar>> make_cpu_layer(LayerType<CpuLayer>, const LayerSpec& spec) {
  return std::make_unique<CpuLayer<Scalar>>(spec);
}

template <class Scalar>
std::unique_ptr<Layer<Scalar>> make_layer(const LayerSpec& spec) {
  std::unique_ptr<Layer<Scalar>> layer;
  if (!visit_layer_type(spec.type, [&](auto type) { layer = make_cpu_layer<Scalar>(type, spec); }))
    throw Error("layer '" + spec.name + "'",
                "unsupported layer type '" + spec.type + "'; supported: " + supported_layer_types());
  return layer;
}

}  // namespace deephash::nn
