#pragma once
// The pluggable frontend: whatever turns images into the paper's latent activations. deephash's
// own is the CNN in nn/ (CnnFrontend); any other model — run by another inference library, a
// remote service — plugs in by implementing encode(). Nothing else in the library depends on
// which one is used.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/codes/binarize.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/matrix.hpp"
#include "deephash/core/progress.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/data/image_view.hpp"

namespace deephash {

class Frontend {
 public:
  virtual ~Frontend() = default;

  // Latent units per image: the code length.
  virtual int code_bits() const = 0;
  // Size of the features for the fine (rerank) stage, e.g. fc7's 4096; 0 if the frontend has none.
  virtual int feature_dim() const { return 0; }
  // How images read from files should be decoded for it: the channels it wants, and a size to
  // resize to (every batch holds images of one size). The default: colour, the stored size.
  virtual DecodeOptions decode_options() const { return {3, 0, 0}; }

  // Writes count x code_bits() latent activations (sigmoid outputs in [0, 1]; a bit is set when
  // > 0.5), and count x feature_dim() features when `features` is not null.
  // The pixels are the caller's: read them in place, they may be a slice of a larger set.
  virtual void encode(const ImageBatchView& images, float* activations, float* features) = 0;
};

struct EncodedImages {
  BitCodes codes;
  RowMatrixXf activations;  // images x code_bits
  RowMatrixXf features;     // images x feature_dim (empty unless asked for)
};

// Encodes a whole image set (an ImageDataset's all()) in batches, slices of `images` rather than
// copies, with a progress bar.
inline EncodedImages encode_images(Frontend& frontend, const ImageBatchView& images, bool with_features = false,
                                   std::size_t batch = 256, const std::string& label = "encode",
                                   bool show_progress = true) {
  const int bits = frontend.code_bits(), dim = with_features ? frontend.feature_dim() : 0;
  if (with_features && dim <= 0) throw Error(label, "the frontend gives no features for reranking");
  EncodedImages out;
  out.activations.resize(Eigen::Index(images.count), bits);
  if (dim > 0) out.features.resize(Eigen::Index(images.count), dim);
  ProgressBar progress(label, images.count);
  for (std::size_t i = 0; i < images.count; i += batch) {
    const std::size_t n = std::min(batch, images.count - i);
    frontend.encode(images.slice(i, i + n),
                    out.activations.data() + i * std::size_t(bits), dim > 0 ? out.features.data() + i * std::size_t(dim) : nullptr);
    if (show_progress) progress.update(i + n);
  }
  if (show_progress) progress.finish();
  out.codes = binarize(out.activations);
  return out;
}

}  // namespace deephash
