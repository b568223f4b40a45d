#pragma once
// Everything of deephash's retrieval library in one include. Data readers (deephash/data/...)
// and the network (deephash/nn/...) are included separately, where they are used.

#include "deephash/codes/binarize.hpp"
#include "deephash/codes/bit_codes.hpp"
#include "deephash/codes/faiss_layout.hpp"
#include "deephash/eval/hamming_ranking.hpp"
#include "deephash/eval/protocol.hpp"
#include "deephash/io/container/index_file.hpp"
#include "deephash/search/coarse_to_fine.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"
