// The indexes over the default popcount backend, compiled once for a program whose translation
// units define DEEPHASH_PRECOMPILED (see nn/layer_factory.hpp): the search kernels they
// instantiate (BlockScanner, PivotShells, the multi-index probes) are a third of the optimised
// compile of a unit that builds an index.

#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"

namespace deephash {
template class BasicHammingIndex<simd::DefaultBackend>;
template class BasicMultiIndexHashing<simd::DefaultBackend>;
}  // namespace deephash
