// libFuzzer target: deephash's index files, both layouts. A mappable file (what save() writes)
// gets its chunk and header checksums recomputed, a compact one its container checksum, so that
// mutations reach the checks behind them (the layout, unused bits, ascending ids).
#include <string>
#include <vector>

#include <deephash/io/container/index_file.hpp>

#include "fuzz_target.hpp"

using namespace deephash;

DEEPHASH_FUZZ_TARGET({
  const IndexFileSignature s = index_file_signature(bytes.data(), bytes.size());
  if (is_mappable_index(s) && bytes.size() >= kIndexPageBytes) {
    const auto index = parse_index(reseal_mappable_index(bytes), "fuzz", 1);
    // A search reads what a mapped index would check on first use.
    const std::vector<std::uint64_t> query(std::size_t(index->words_per_code()), 0);
    std::vector<std::int32_t> distances(3);
    std::vector<idx_t> labels(3);
    index->search(1, query.data(), 3, distances.data(), labels.data());
  } else {
    parse_index(reseal_container(bytes), "fuzz", 1);
  }
})
