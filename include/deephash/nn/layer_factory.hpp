#pragma once
// Makes the layer a LayerSpec's type names, from the one list of layer types (layer_types.hpp).
//
// make_layer<Scalar> instantiates every layer type: in a translation unit that builds a network,
// about three quarters of an optimised compile. A program of many translation units compiles them
// once: it adds deephash/nn/layer_instances.cpp to its sources and defines DEEPHASH_PRECOMPILED
// in all of them, which declares make_layer<float> and <double> instantiated elsewhere (the
// indexes do the same: search/index_instances.cpp). The repository's own programs do (CMake
// target deephash_precompiled); nothing changes in what the code does.

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

#ifdef DEEPHASH_PRECOMPILED
extern template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&);
extern template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&);
#endif

}  // namespace deephash::nn
