#pragma once
// Reading any deephash index file back as the index that wrote it: the flat index ("HIDX") or
// multi-index hashing ("MIHX"). The layout is in index_payload.hpp; indexes write themselves
// with BinaryIndex::save (a GPU index writes a flat index file).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/io/container/index_payload.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"

namespace deephash {

// An index from the bytes of an index file; `path` names them in errors.
inline std::unique_ptr<BinaryIndex> parse_index(std::vector<std::uint8_t> bytes, const std::string& path,
                                                unsigned num_threads = default_num_threads()) {
  if (index_file_kind(bytes) == kMihIndexFileKind) {
    const ContainerContents file = parse_container(std::move(bytes), path, kMihIndexFileKind, kMihIndexFileVersion);
    IndexFileContents c = parse_index_payload(file, path, false);
    return std::make_unique<MultiIndexHashing>(std::move(c.codes), c.tables, num_threads);
  }
  const ContainerContents file = parse_container(std::move(bytes), path, kFlatIndexFileKind, kFlatIndexFileVersion);
  IndexFileContents c = parse_index_payload(file, path, file.version == 1);
  return std::make_unique<HammingIndex>(std::move(c.codes), num_threads);
}

inline std::unique_ptr<BinaryIndex> load_index(const std::string& path, unsigned num_threads = default_num_threads()) {
  return parse_index(read_file_bytes(path), path, num_threads);
}

// The same as index.save(path).
inline void save_index(const BinaryIndex& index, const std::string& path) { index.save(path); }

}  // namespace deephash
