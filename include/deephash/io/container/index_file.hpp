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
//
// load_index, map_index and parse_index also read FAISS's binary index files (io/faiss/:
// IndexBinaryFlat and the IDMap / IDMap2 around one, what `deephash index --format faiss` and
// faiss.write_index_binary write), known by the kind FAISS writes first, as a flat index with
// the file's ids. They are read, never mapped (their codes are not in deephash's search layout),
// and hold no checksums. FAISS stores whole bytes: `faiss_bits` is the true code length of a
// file whose codes were padded to them (0: FAISS's d); deephash's own files ignore it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/file_region.hpp"
#include "deephash/io/container/index_payload.hpp"
#include "deephash/io/faiss/binary_index_file.hpp"
#include "deephash/search/hamming_index.hpp"
#include "deephash/search/multi_index_hashing.hpp"

namespace deephash {

namespace detail {

inline std::unique_ptr<BinaryIndex> make_index(IndexFileContents c, unsigned num_threads) {
  if (c.kind == kMihIndexFileKind) return std::make_unique<MultiIndexHashing>(std::move(c), num_threads);
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

// FAISS's file as the flat index: IndexBinaryFlat is one, and an id map's ids become the index's.
inline std::unique_ptr<BinaryIndex> make_faiss_index(const FileRegion& region, int faiss_bits, unsigned num_threads) {
  const FaissBinaryIndex faiss = parse_faiss_binary_index(region.data(), region.size(), region.path(), faiss_bits);
  auto index = std::make_unique<HammingIndex>(faiss.codes.bits(), num_threads);
  if (faiss.kind == FaissBinaryKind::Flat) {
    index->add(faiss.codes);
    return index;
  }
  // FAISS's IDMap lets ids repeat or be negative; a deephash index holds each id once, >= 0.
  try {
    index->add_with_ids(faiss.codes, faiss.ids);
  } catch (const Error& e) {
    throw Error(region.path(), std::string("its ids cannot index a deephash index: ") + e.what());
  }
  return index;
}

// Any index file in `region`, by what it begins with; a mappable deephash file is checked as
// `verification` says, every other kind as it is read.
inline std::unique_ptr<BinaryIndex> open_index(std::shared_ptr<const FileRegion> region, unsigned num_threads,
                                               Verification verification, int faiss_bits) {
  if (is_faiss_binary_index(region->data(), region->size())) return make_faiss_index(*region, faiss_bits, num_threads);
  return make_index(read_index_contents(std::move(region), verification), num_threads);
}

}  // namespace detail

// An index from the bytes of an index file; `path` names them in errors. Every checksum is checked.
inline std::unique_ptr<BinaryIndex> parse_index(const std::vector<std::uint8_t>& bytes, const std::string& path,
                                                unsigned num_threads = default_num_threads(), int faiss_bits = 0) {
  auto region = std::make_shared<const FileCopy>(bytes.data(), bytes.size(), path);
  return detail::open_index(std::move(region), num_threads, Verification::now, faiss_bits);
}

// Reads the whole file; every checksum is checked.
inline std::unique_ptr<BinaryIndex> load_index(const std::string& path, unsigned num_threads = default_num_threads(),
                                               int faiss_bits = 0) {
  return detail::open_index(std::make_shared<const FileCopy>(path), num_threads, Verification::now, faiss_bits);
}

// Maps the file (see the top of this header); files that cannot be mapped (the compact layout,
// FAISS's) are read from the mapping as load_index reads them. Multi-index hashing's tables are
// in its file (MIHX version 3) and checked like the codes; a version 2 file has none, so its
// tables are built from every code, checked at once whatever `verification` says.
inline std::unique_ptr<BinaryIndex> map_index(const std::string& path, unsigned num_threads = default_num_threads(),
                                              Verification verification = Verification::on_first_use, int faiss_bits = 0) {
  return detail::open_index(std::make_shared<const MappedFile>(path), num_threads, verification, faiss_bits);
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
