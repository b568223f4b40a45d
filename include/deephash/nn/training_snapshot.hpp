#pragma once
// Where a training run stands: the model so far and the solver's state, so that a run resumes
// exactly where it stopped. Saved and loaded by io/container/model_file.hpp.

#include <cstdint>
#include <vector>

#include "deephash/nn/hashing_model.hpp"
#include "deephash/nn/solver.hpp"

namespace deephash {

struct TrainingSnapshot {
  HashingModel model;
  nn::SolverSpec solver;
  int iteration = 0;
  std::uint64_t seed = 1;
  int batch_size = 0;
  std::vector<std::vector<float>> history;  // momentum, one per learnable blob
};

}  // namespace deephash
