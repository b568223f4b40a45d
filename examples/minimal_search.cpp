// The smallest useful program: binarise some activations, index them, search.
#include <cstdio>
#include <random>
#include <vector>

#include <deephash/deephash.hpp>

int main() {
  using namespace deephash;
  // 100,000 database items with 48 sigmoid activations each (random here; a network's latent
  // layer in practice), and 3 queries.
  const int bits = 48;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> unit(0, 1);
  std::vector<float> database(100000 * bits), queries(3 * bits);
  for (float& a : database) a = unit(rng);
  for (float& a : queries) a = unit(rng);

  HammingIndex index(bits);
  index.add(binarize(database.data(), 100000, bits));  // bit = activation > 0.5
  const KnnResult r = index.search(binarize(queries.data(), 3, bits), 5);

  for (idx_t q = 0; q < r.nq; ++q) {
    std::printf("query %ld:", long(q));
    for (idx_t j = 0; j < r.k; ++j) std::printf("  #%ld (d=%d)", long(r.label(q, j)), r.distance(q, j));
    std::printf("\n");
  }
}
