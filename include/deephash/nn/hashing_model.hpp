#pragma once
// A trained hashing model: everything needed to encode images — the network, its weights, the
// input transformation and the blobs to read codes and rerank features from — and the class
// names. Saved and loaded by io/container/model_file.hpp. In namespace deephash, not nn: it is
// what users hold, the way a Frontend is.

#include <memory>
#include <string>
#include <vector>

#include "deephash/nn/cnn_frontend.hpp"

namespace deephash {

struct HashingModel {
  nn::NetSpec net;  // may be the training net: encoding keeps only what the latent blob needs
  std::vector<nn::LayerWeights> weights;
  nn::FrontendSpec frontend;
  std::vector<std::string> class_names;
  std::string description;

  std::unique_ptr<nn::CnnFrontend> make_frontend(unsigned threads = default_num_threads(),
                                                 const std::string& source = "model") const {
    return std::make_unique<nn::CnnFrontend>(net, weights, frontend, threads, source);
  }
};

}  // namespace deephash
