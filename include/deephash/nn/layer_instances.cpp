// Every layer type, compiled once for a program whose translation units define
// DEEPHASH_PRECOMPILED (see layer_factory.hpp): float for networks, double for the
// gradient checks.

#include "deephash/nn/layer_factory.hpp"

namespace deephash::nn {
template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&);
}  // namespace deephash::nn
