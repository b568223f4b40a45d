#pragma once
// Reading any deephash index file back as the index that wrote it: the flat index ("HIDX") or
// multi-index hashing ("MIHX"). The layouts are in index_payload.hpp; indexes write themselves
// with BinaryIndex::save (a GPU index writes a flat index file).
//
//   load_index(path)   reads the whole file and checks every checksum: the index owns its memory.
//   map_index(path)    maps a file in the mappable layout (what save() writes) and points the
//                      index into its pages: it opens at once whatever its size, processes that
//                      map the same file share one copy of it, and each chunk is checked against
//                      its checksum when first read. Files in the older compact layout are read
//                      as load_index would. Changing a mapped index (add, remove) copies it into
//                      memory first; the file is never written.
//   verify_index_file  checks every checksum of a file, of any layout.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/file_region.hpp"
#include "deephash/io/container/index_payload.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"

namespace deephash {

namespace detail {

inline std::unique_ptr<BinaryIndex> make_index(IndexFileContents c, unsigned num_threads) {
  if (c.kind == kMihIndexFileKind) return std::make_unique<MultiIndexHashing>(std::move(c.codes), c.tables, num_threads);
  return std::make_unique<HammingIndex>(std::move(c.codes), num_threads);
}

// A file in the compact layout, whole in memory.
inline IndexFileContents parse_compact_index(std::vector<std::uint8_t> bytes, const std::string& path) {
  const bool mih = index_file_signature(bytes.data(), bytes.size()).kind == kMihIndexFileKind;
  // The compact layout's last versions: HIDX 2, MIHX 1.
  const ContainerContents file = mih ? parse_container(std::move(bytes), path, kMihIndexFileKind, 1)
                                     : parse_container(std::move(bytes), path, kFlatIndexFileKind, 2);
  IndexFileContents c = parse_index_payload(file, path, !mih && file.version == 1);
  c.kind = mih ? kMihIndexFileKind : kFlatIndexFileKind;
  return c;
}

// Refuses versions newer than this build reads, naming the file.
inline void check_index_version(const IndexFileSignature& s, const std::string& path) {
  const bool mih = s.kind == kMihIndexFileKind;
  const std::uint32_t newest = mih ? kMihIndexFileVersion : kFlatIndexFileVersion;
  if ((s.kind == kFlatIndexFileKind || mih) && s.version > newest)
    throw Error(path, "format version " + std::to_string(s.version) + " is not supported: this build of deephash reads " +
                          "deephash " + s.kind + " file versions 1 to " + std::to_string(newest) +
                          " (written by a newer deephash?)");
}

inline IndexFileContents read_index_contents(std::shared_ptr<const FileRegion> region, Verification verification) {
  const IndexFileSignature s = index_file_signature(region->data(), region->size());
  check_index_version(s, region->path());
  if (is_mappable_index(s)) return parse_mappable_index(std::move(region), verification);
  return parse_compact_index(std::vector<std::uint8_t>(region->data(), region->data() + region->size()), region->path());
}

}  // namespace detail

// An index from the bytes of an index file; `path` names them in errors. Every checksum is checked.
inline std::unique_ptr<BinaryIndex> parse_index(const std::vector<std::uint8_t>& bytes, const std::string& path,
                                                unsigned num_threads = default_num_threads()) {
  auto region = std::make_shared<const FileCopy>(bytes.data(), bytes.size(), path);
  return detail::make_index(detail::read_index_contents(std::move(region), Verification::now), num_threads);
}

// Reads the whole file; every checksum is checked.
inline std::unique_ptr<BinaryIndex> load_index(const std::string& path, unsigned num_threads = default_num_threads()) {
  auto region = std::make_shared<const FileCopy>(path);
  return detail::make_index(detail::read_index_contents(std::move(region), Verification::now), num_threads);
}

// Maps the file (see the top of this header). Multi-index hashing reads every code to build its
// tables, so its codes are checked at once whatever `verification` says.
inline std::unique_ptr<BinaryIndex> map_index(const std::string& path, unsigned num_threads = default_num_threads(),
                                              Verification verification = Verification::on_first_use) {
  auto region = std::make_shared<const MappedFile>(path);
  const IndexFileSignature s = index_file_signature(region->data(), region->size());
  if (is_mappable_index(s)) return detail::make_index(parse_mappable_index(std::move(region), verification), num_threads);
  return load_index(path, num_threads);
}

// What verify_index_file found.
struct IndexFileSummary {
  std::string kind;  // "flat" or "mih"
  std::uint32_t version = 0;
  int bits = 0;
  idx_t size = 0;
  bool ids = false;    // ids stored (not 0 .. n - 1)
  bool mappable = false;
};

// Checks every checksum (and what else a reader checks) of an index file without building
// tables; throws an Error naming the file and the problem.
inline IndexFileSummary verify_index_file(const std::string& path) {
  auto region = std::make_shared<const MappedFile>(path);
  IndexFileSummary s;
  const IndexFileSignature signature = index_file_signature(region->data(), region->size());
  s.version = signature.version;
  s.mappable = is_mappable_index(signature);
  const IndexFileContents c = detail::read_index_contents(std::move(region), Verification::now);
  s.kind = c.kind == kMihIndexFileKind ? "mih" : "flat";
  s.bits = c.codes.bits();
  s.size = idx_t(c.codes.size());
  s.ids = !c.codes.sequential_ids();
  return s;
}

// The same as index.save(path).
inline void save_index(const BinaryIndex& index, const std::string& path) { index.save(path); }

}  // namespace deephash
