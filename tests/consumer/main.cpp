// Built against an installed deephash: index some codes, search, save and load the index.
#include <cstdio>
#include <deephash/deephash.hpp>

int main(int argc, char** argv) {
  using namespace deephash;
  const float activations[] = {0.9f, 0.1f, 0.8f,  0.2f, 0.7f, 0.6f,  0.9f, 0.2f, 0.7f};
  HammingIndex index(3);
  index.add(binarize(activations, 3, 3));
  const KnnResult r = index.search(binarize(activations, 1, 3), 2);
  if (argc > 1) {
    save_index(index, argv[1]);
    if (load_index(argv[1])->size() != 3) return 1;
  }
  std::printf("nearest: %ld (d=%d), %ld (d=%d)\n", long(r.label(0, 0)), r.distance(0, 0), long(r.label(0, 1)),
              r.distance(0, 1));
  // Code 0 is 101 and code 2 is 101 too: both at distance 0, in database order.
  return r.label(0, 0) == 0 && r.label(0, 1) == 2 && r.distance(0, 1) == 0 ? 0 : 1;
}
