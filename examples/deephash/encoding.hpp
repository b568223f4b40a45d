#pragma once
// Encoding dataset splits with a model, as encode, eval, search and demo need it.

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/model_file.hpp>

#include "datasets.hpp"

namespace deephash::cli {

inline EncodedSet encode_split(Frontend& frontend, const ImageDataset& images, const std::string& dataset,
                               const std::string& split, bool with_features) {
  EncodedImages e = encode_images(frontend, images.all(), with_features, 256, "encode " + split);
  EncodedSet s;
  s.codes = std::move(e.codes);
  s.labels = images.labels;
  s.class_names = images.class_names;
  s.source = dataset;
  s.role = split;
  s.paths = images.paths;
  s.features = std::move(e.features);
  return s;
}

}  // namespace deephash::cli
