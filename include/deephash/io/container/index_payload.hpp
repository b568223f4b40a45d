#pragma once
// What every deephash index file holds: its codes and ids. The flat index writes kind "HIDX",
// multi-index hashing "MIHX". Two layouts:
//
// The mappable layout (HIDX version 3, MIHX versions 2 and 3; what save() writes): the search layout
// itself, so that map_index can point an index straight into the file's pages without reading
// it, and processes that map the same file share them. Little-endian, sections 4096-aligned:
//
//   offset  size  field
//   0       8     magic "DEEPHASH"
//   8       4     kind ("HIDX" / "MIHX")
//   12      4     version (3 / 2)
//   16      8     file size in bytes
//   24      4     bits                 28  4  tables (mih: asked for, 0 = automatic; flat: 0)
//   32      8     n (codes)            40  8  flags (bit 0: ids stored)
//   48      8     chunk bytes C (a multiple of 4096): each chunk of a section has its own CRC-32
//   56      8     codes offset (4096): ceil(n / 16) blocks in CodeBlocks' layout
//                 (code_blocks.hpp), words * 16 u64 each, unused bits and codes zero
//   64      8     ids offset (0 without ids): n i64, strictly ascending
//   72      8     checksums offset: one u32 CRC-32 per chunk of the codes, then of the ids, then
//                 of each extra section in turn
//   80      8     extra sections S (MIHX 3; 0 in the other kinds and versions, at most 16)
//   88      8 S   each extra section's size in bytes: the sections follow the ids (or the codes),
//                 each starting a page, and the checksum table follows them
//   4092    4     CRC-32 of bytes 0 .. 4091 followed by the checksum table
//
// The extra sections of MIHX version 3 are multi-index hashing's search structures
// (multi_index_hashing.hpp), so that mapping the file needs no rebuild: kMihSectionNames lists
// them. Version 2 has none, and its tables are rebuilt when it is opened.
//
// Opening checks the header and the checksum table only; each chunk of codes and ids is checked
// when first used (or all at once: Verification::now, verify_index_file). Every offset and size
// follows from bits, n, flags and C, and a file whose header says otherwise is refused.
//
// The older, compact layout (HIDX versions 1 and 2, MIHX version 1; still read) is one
// checksummed container (format.hpp) whose payload is
//
//   u32 bits, u32 tables, u64 n, u64 flags (bit 0: ids stored) — version 1 has no flags —,
//   n codes row-major (ceil(bits / 64) u64 words each), then, with bit 0, n ids (i64, ascending);
//   without it the ids are 0 .. n - 1.
//
// The compact layout never stores tables: they are rebuilt on load.

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/chunk_checksums.hpp"
#include "deephash/core/file_region.hpp"
#include "deephash/io/container/format.hpp"
#include "deephash/search/id_ordered_codes.hpp"

namespace deephash {

inline constexpr char kFlatIndexFileKind[5] = "HIDX";
inline constexpr std::uint32_t kFlatIndexFileVersion = 3;  // the mappable layout; 1 and 2 compact
inline constexpr char kMihIndexFileKind[5] = "MIHX";
inline constexpr std::uint32_t kMihIndexFileVersion = 3;  // mappable with its tables; 2 without; 1 compact

// The extra sections of a MIHX version 3 file, in order, as errors name them.
inline constexpr std::size_t kMihSections = 11;
inline constexpr const char* kMihSectionNames[kMihSections] = {
    "table layout", "distinct codes", "posting starts", "postings",     "table keys",   "table starts",
    "table entries", "pivots",        "shell starts",   "shell members", "shell codes"};
inline constexpr std::size_t kMaxIndexSections = 16;

// An extra section to write: `bytes` bytes at `data`.
struct IndexSectionBytes {
  const void* data;
  std::uint64_t bytes;
};

// What an index writes into its file's header: kind (kFlatIndexFileKind, kMihIndexFileKind),
// version, and the number of tables multi-index hashing was asked for (0 otherwise).
struct IndexFileFormat {
  const char* kind;
  std::uint32_t version;
  int tables;
};
inline IndexFileFormat flat_index_file_format() { return {kFlatIndexFileKind, kFlatIndexFileVersion, 0}; }

// Sections start on page boundaries; checksums cover 1 MiB chunks (a chunk is checked in well
// under a millisecond, and a 10^8-code, 64-bit index has 763 of them).
inline constexpr std::uint64_t kIndexPageBytes = 4096;
inline constexpr std::uint64_t kIndexChunkBytes = std::uint64_t(1) << 20;

// Where everything lies in a mappable index file, from what determines it.
struct MappableIndexLayout {
  std::uint64_t codes_offset = kIndexPageBytes, codes_bytes = 0;
  std::uint64_t ids_offset = 0, ids_bytes = 0;
  std::uint64_t checksums_offset = 0, code_chunks = 0, id_chunks = 0;
  std::vector<std::uint64_t> section_offsets, section_bytes, section_chunks;  // the extra sections
  std::uint64_t file_bytes = 0;

  // n and every section's size must be at most 2^56, so that nothing below overflows.
  MappableIndexLayout(int bits, std::uint64_t n, bool with_ids, std::uint64_t chunk_bytes,
                      std::vector<std::uint64_t> sections = {})
      : section_bytes(std::move(sections)) {
    auto page_align = [](std::uint64_t x) { return (x + kIndexPageBytes - 1) / kIndexPageBytes * kIndexPageBytes; };
    codes_bytes = (n + kBlockCodes - 1) / kBlockCodes * std::uint64_t(words_for_bits(bits)) * kBlockCodes * 8;
    ids_bytes = with_ids ? n * 8 : 0;
    ids_offset = with_ids ? page_align(codes_offset + codes_bytes) : 0;
    std::uint64_t end = with_ids ? ids_offset + ids_bytes : codes_offset + codes_bytes;
    std::uint64_t chunks = 0;
    for (std::uint64_t bytes : section_bytes) {
      section_offsets.push_back(page_align(end));
      section_chunks.push_back((bytes + chunk_bytes - 1) / chunk_bytes);
      chunks += section_chunks.back();
      end = section_offsets.back() + bytes;
    }
    checksums_offset = page_align(end);
    code_chunks = (codes_bytes + chunk_bytes - 1) / chunk_bytes;
    id_chunks = (ids_bytes + chunk_bytes - 1) / chunk_bytes;
    file_bytes = checksums_offset + 4 * (code_chunks + id_chunks + chunks);
  }
};

// What a mappable file's header ends with: the CRC-32 of its first 4092 bytes followed by the
// checksum table, so that one check at opening covers both.
inline std::uint32_t mappable_header_crc(const std::uint8_t* header, const std::vector<std::uint32_t>& chunk_crcs) {
  return crc32(chunk_crcs.data(), chunk_crcs.size() * 4, crc32(header, kIndexPageBytes - 4));
}

// Hands the bytes of an index file in the mappable layout, holding codes (and their ids unless
// they are 0 .. n - 1) and the extra sections, to put(data, size) in order.
template <class Put>
void write_index_image(const IndexFileFormat& format, const IdOrderedCodes& codes,
                       const std::vector<IndexSectionBytes>& sections, Put&& put) {
  codes.check_all();  // never re-seal corrupted codes read from a file under fresh checksums
  const std::uint64_t n = codes.size();
  const bool with_ids = !codes.sequential_ids();
  std::vector<std::uint64_t> section_bytes;
  for (const IndexSectionBytes& s : sections) section_bytes.push_back(s.bytes);
  const MappableIndexLayout layout(codes.bits(), n, with_ids, kIndexChunkBytes, section_bytes);
  const auto* code_bytes = reinterpret_cast<const std::uint8_t*>(codes.blocks().block(0));
  const std::vector<idx_t> ids = with_ids ? codes.ids() : std::vector<idx_t>();
  const auto* id_bytes = reinterpret_cast<const std::uint8_t*>(ids.data());

  std::vector<std::uint32_t> checksums;
  append_chunk_crc32s(checksums, code_bytes, layout.codes_bytes, kIndexChunkBytes);
  append_chunk_crc32s(checksums, id_bytes, layout.ids_bytes, kIndexChunkBytes);
  for (const IndexSectionBytes& s : sections)
    append_chunk_crc32s(checksums, static_cast<const std::uint8_t*>(s.data), s.bytes, kIndexChunkBytes);

  ByteWriter head;
  head.append(kContainerMagic, 8);
  head.append(format.kind, 4);
  head.write<std::uint32_t>(format.version);
  head.write<std::uint64_t>(layout.file_bytes);
  head.write<std::uint32_t>(std::uint32_t(codes.bits()));
  head.write<std::uint32_t>(std::uint32_t(format.tables));
  head.write<std::uint64_t>(n);
  head.write<std::uint64_t>(with_ids ? 1 : 0);
  head.write<std::uint64_t>(kIndexChunkBytes);
  head.write<std::uint64_t>(layout.codes_offset);
  head.write<std::uint64_t>(layout.ids_offset);
  head.write<std::uint64_t>(layout.checksums_offset);
  head.write<std::uint64_t>(sections.size());
  for (const IndexSectionBytes& s : sections) head.write<std::uint64_t>(s.bytes);
  head.bytes().resize(kIndexPageBytes - 4, 0);
  head.write<std::uint32_t>(mappable_header_crc(head.bytes().data(), checksums));

  std::uint64_t written = 0;
  auto put_counted = [&](const void* data, std::uint64_t size) {
    put(data, std::size_t(size));
    written += size;
  };
  const std::vector<std::uint8_t> zeros(kIndexPageBytes, 0);
  auto pad_to = [&](std::uint64_t offset) { put_counted(zeros.data(), offset - written); };
  put_counted(head.bytes().data(), head.bytes().size());
  put_counted(code_bytes, layout.codes_bytes);
  if (with_ids) {
    pad_to(layout.ids_offset);
    put_counted(id_bytes, layout.ids_bytes);
  }
  for (std::size_t i = 0; i < sections.size(); ++i) {
    pad_to(layout.section_offsets[i]);
    put_counted(sections[i].data, sections[i].bytes);
  }
  pad_to(layout.checksums_offset);
  put_counted(checksums.data(), checksums.size() * 4);
}

// Writes an index file in the mappable layout, atomically.
inline void write_index_file(const std::string& path, const IndexFileFormat& format, const IdOrderedCodes& codes,
                             const std::vector<IndexSectionBytes>& sections = {}) {
  AtomicFileWriter out(path);
  write_index_image(format, codes, sections, [&](const void* data, std::size_t size) { out.write(data, size); });
  out.commit();
}

// The same bytes in memory (parse_index in index_file.hpp reads them back).
inline std::vector<std::uint8_t> index_file_bytes(const IndexFileFormat& format, const IdOrderedCodes& codes,
                                                   const std::vector<IndexSectionBytes>& sections = {}) {
  std::vector<std::uint8_t> bytes;
  write_index_image(format, codes, sections, [&](const void* data, std::size_t size) {
    const auto* b = static_cast<const std::uint8_t*>(data);
    bytes.insert(bytes.end(), b, b + size);
  });
  return bytes;
}

// The kind ("HIDX", "MIHX") and version of a deephash index file from its first bytes; kind ""
// if it is none.
struct IndexFileSignature {
  std::string kind;
  std::uint32_t version = 0;
};
inline IndexFileSignature index_file_signature(const std::uint8_t* bytes, std::size_t size) {
  IndexFileSignature s;
  if (size < 16 || std::memcmp(bytes, kContainerMagic, 8) != 0) return s;
  s.kind.assign(reinterpret_cast<const char*>(bytes + 8), 4);
  std::memcpy(&s.version, bytes + 12, 4);
  return s;
}
inline bool is_mappable_index(const IndexFileSignature& s) {
  return (s.kind == kFlatIndexFileKind && s.version == kFlatIndexFileVersion) ||
         (s.kind == kMihIndexFileKind && (s.version == 2 || s.version == kMihIndexFileVersion));
}

// When the chunks of a mappable index file are checked against their checksums.
enum class Verification {
  on_first_use,  // as searches (and anything else) first read them: opening reads nothing
  now,           // every chunk before the index is returned
};

// An extra section of a mapped file: its bytes and their chunks' CRC-32s. The index that reads it
// checks them (checks()), with what else it knows a valid section satisfies.
struct MappedIndexSection {
  const std::uint8_t* data = nullptr;
  std::uint64_t bytes = 0;
  std::string path, name;
  std::uint64_t file_offset = 0, chunk_bytes = 0;
  std::vector<std::uint32_t> crcs;

  std::shared_ptr<const ChunkChecksums> checks(ChunkChecksums::Validator validate = nullptr) const {
    return std::make_shared<ChunkChecksums>(data, std::size_t(bytes), std::size_t(chunk_bytes), crcs, path, name,
                                            std::size_t(file_offset), std::move(validate));
  }
};

struct IndexFileContents {
  std::string kind;  // "HIDX" or "MIHX"
  int tables = 0;
  IdOrderedCodes codes{1};
  Verification verification = Verification::now;
  std::vector<MappedIndexSection> sections;  // MIHX version 3: kMihSectionNames
  std::shared_ptr<const FileRegion> region;  // what the sections point into
};


namespace detail {

// 0 (automatic), else substrings of 1 to 64 bits.
inline void check_table_count(std::uint32_t tables, std::uint32_t bits, const std::string& path) {
  if (tables != 0 && (tables > bits || tables < std::uint32_t(words_for_bits(int(bits)))))
    throw Error(path, "declares " + std::to_string(tables) + " tables for " + std::to_string(bits) +
                          "-bit codes; 0 (automatic) or " + std::to_string(words_for_bits(int(bits))) + " to " +
                          std::to_string(bits) + " are possible");
}

// What a chunk of codes must also satisfy: no bit set past the code length.
inline std::string check_unused_bits(const std::uint8_t* chunk, std::size_t offset, std::size_t length, int bits) {
  if (bits % 64 == 0) return "";
  const std::size_t words = std::size_t(words_for_bits(bits));
  const std::uint64_t unused = ~last_word_mask(bits);
  for (std::size_t at = 0; at + 8 <= length; at += 8) {
    const std::size_t word = (offset + at) / 8;  // of the section: block, then word, then code
    if ((word / kBlockCodes) % words != words - 1) continue;
    std::uint64_t w;
    std::memcpy(&w, chunk + at, 8);
    if (w & unused)
      return "code " + std::to_string(word / (words * kBlockCodes) * kBlockCodes + word % kBlockCodes) +
             " has bits set past its " + std::to_string(bits) + " bits";
  }
  return "";
}

// What a chunk of ids must also satisfy: non-negative and strictly ascending.
inline std::string check_ascending_ids(const std::uint8_t* chunk, std::size_t offset, std::size_t length) {
  for (std::size_t at = 0; at + 8 <= length; at += 8) {
    idx_t id, previous = -1;
    std::memcpy(&id, chunk + at, 8);
    if (offset + at > 0) std::memcpy(&previous, chunk + at - 8, 8);  // the previous chunk's last id too
    if (id <= previous)
      return "id " + std::to_string(id) + " at position " + std::to_string((offset + at) / 8) +
             (id < 0 ? " is negative" : " does not follow " + std::to_string(previous) + " in ascending order");
  }
  return "";
}

}  // namespace detail

// The codes and ids of a mappable index file in `region` (mapped or read), pointing into it.
inline IndexFileContents parse_mappable_index(std::shared_ptr<const FileRegion> region, Verification verification) {
  const std::string& path = region->path();
  const std::uint8_t* file = region->data();
  const std::size_t size = region->size();
  const IndexFileSignature signature = index_file_signature(file, size);
  if (!is_mappable_index(signature)) throw Error(path, "is not a mappable deephash index file");
  if (size < kIndexPageBytes)
    throw Error(path, "truncated: " + std::to_string(size) + " bytes, less than the " + std::to_string(kIndexPageBytes) +
                          "-byte header");
  ByteReader head(file, kIndexPageBytes, path);
  head.skip(16, "signature");
  const auto file_bytes = head.read<std::uint64_t>("file size");
  if (file_bytes != size)
    throw Error(path, (file_bytes > size ? "truncated: " : "unexpected trailing bytes: ") +
                          std::string("the header declares ") + std::to_string(file_bytes) + " bytes, but the file has " +
                          std::to_string(size));
  const auto bits = head.read<std::uint32_t>("code length");
  const auto tables = head.read<std::uint32_t>("number of tables");
  const auto n = head.read<std::uint64_t>("number of codes");
  const auto flags = head.read<std::uint64_t>("flags");
  const auto chunk_bytes = head.read<std::uint64_t>("chunk size");
  const std::uint64_t offsets[3] = {head.read<std::uint64_t>("codes offset"), head.read<std::uint64_t>("ids offset"),
                                    head.read<std::uint64_t>("checksums offset")};
  const auto section_count = head.read<std::uint64_t>("number of extra sections");
  const std::uint64_t expected_sections =
      signature.kind == kMihIndexFileKind && signature.version == kMihIndexFileVersion ? kMihSections : 0;
  if (section_count != expected_sections)
    throw Error(path, "declares " + std::to_string(section_count) + " extra sections where a " + signature.kind +
                          " version " + std::to_string(signature.version) + " file has " +
                          std::to_string(expected_sections) + ": the header is damaged");
  std::vector<std::uint64_t> section_bytes;
  for (std::uint64_t i = 0; i < section_count; ++i) {
    section_bytes.push_back(head.read<std::uint64_t>("section size"));
    if (section_bytes.back() > size)
      throw Error(path, "declares a " + std::string(kMihSectionNames[i]) + " section of " +
                            std::to_string(section_bytes.back()) + " bytes, more than the file's " + std::to_string(size));
  }
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits))
    throw Error(path, "code length " + std::to_string(bits) + " bits is out of range 1.." + std::to_string(kMaxCodeBits));
  if (flags > 1) throw Error(path, "unknown flags " + std::to_string(flags) + " (written by a newer deephash?)");
  if (chunk_bytes == 0 || chunk_bytes % kIndexPageBytes != 0 || chunk_bytes > (std::uint64_t(1) << 32))
    throw Error(path, "chunk size " + std::to_string(chunk_bytes) + " is not a multiple of 4096 up to 4 GiB");
  if (n > size / 8)
    throw Error(path, "declares " + std::to_string(n) + " codes, more than " + std::to_string(size) + " bytes can hold");
  const MappableIndexLayout layout(int(bits), n, flags & 1, chunk_bytes, section_bytes);
  if (offsets[0] != layout.codes_offset || offsets[1] != layout.ids_offset || offsets[2] != layout.checksums_offset ||
      layout.file_bytes != size)
    throw Error(path, "the sections are not where " + std::to_string(n) + " codes of " + std::to_string(bits) +
                          " bits" + (flags & 1 ? " with ids" : "") + (section_count ? " and the tables" : "") +
                          " put them: the header is damaged");
  std::size_t chunks = std::size_t(layout.code_chunks + layout.id_chunks);
  for (std::uint64_t c : layout.section_chunks) chunks += std::size_t(c);
  std::vector<std::uint32_t> crcs(chunks);
  if (chunks > 0) std::memcpy(crcs.data(), file + layout.checksums_offset, chunks * 4);
  std::uint32_t stored;
  std::memcpy(&stored, file + kIndexPageBytes - 4, 4);
  if (mappable_header_crc(file, crcs) != stored)
    throw Error(path, "checksum mismatch in the header: the file is corrupted");
  detail::check_table_count(tables, bits, path);

  IndexFileContents c;
  c.kind = signature.kind;
  c.tables = int(tables);
  auto code_checks = std::make_shared<ChunkChecksums>(
      file + layout.codes_offset, layout.codes_bytes, chunk_bytes,
      std::vector<std::uint32_t>(crcs.begin(), crcs.begin() + std::ptrdiff_t(layout.code_chunks)), path, "codes",
      layout.codes_offset, [bits](const std::uint8_t* chunk, std::size_t offset, std::size_t length) {
        return detail::check_unused_bits(chunk, offset, length, int(bits));
      });
  std::shared_ptr<ChunkChecksums> id_checks;
  if (flags & 1)
    id_checks = std::make_shared<ChunkChecksums>(
        file + layout.ids_offset, layout.ids_bytes, chunk_bytes,
        std::vector<std::uint32_t>(crcs.begin() + std::ptrdiff_t(layout.code_chunks),
                                   crcs.begin() + std::ptrdiff_t(layout.code_chunks + layout.id_chunks)),
        path, "ids", layout.ids_offset, detail::check_ascending_ids);
  std::size_t first_crc = std::size_t(layout.code_chunks + layout.id_chunks);
  for (std::size_t i = 0; i < section_bytes.size(); ++i) {
    const std::size_t count = std::size_t(layout.section_chunks[i]);
    const std::uint8_t* data = file + layout.section_offsets[i];
    c.sections.push_back({data, section_bytes[i], path, kMihSectionNames[i], layout.section_offsets[i], chunk_bytes,
                          std::vector<std::uint32_t>(crcs.begin() + std::ptrdiff_t(first_crc),
                                                     crcs.begin() + std::ptrdiff_t(first_crc + count))});
    first_crc += count;
  }
  c.region = region;
  c.verification = verification;
  const auto* ids = flags & 1 ? reinterpret_cast<const idx_t*>(file + layout.ids_offset) : nullptr;
  c.codes = IdOrderedCodes::view(
      CodeBlocks::view(int(bits), std::size_t(n), reinterpret_cast<const std::uint64_t*>(file + layout.codes_offset),
                       region, std::move(code_checks)),
      ids, std::move(id_checks));
  if (verification == Verification::now) {
    c.codes.check_all();
    for (const MappedIndexSection& s : c.sections) s.checks()->verify_all();  // the index checks the rest
  }
  return c;
}

// The codes and ids of a verified index container in the compact layout; `path` names it in errors.
inline IndexFileContents parse_index_payload(const ContainerContents& file, const std::string& path, bool legacy_v1) {
  ByteReader in = file.payload(path);
  const auto bits = in.read<std::uint32_t>("code length");
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits))
    throw Error(path, "code length " + std::to_string(bits) + " bits is out of range 1.." + std::to_string(kMaxCodeBits));
  IndexFileContents c;
  const auto tables = in.read<std::uint32_t>(legacy_v1 ? "reserved field" : "number of tables");
  if (!legacy_v1) detail::check_table_count(tables, bits, path);
  c.tables = legacy_v1 ? 0 : int(tables);
  const auto n = in.read<std::uint64_t>("number of codes");
  const std::uint64_t flags = legacy_v1 ? 0 : in.read<std::uint64_t>("flags");
  if (flags > 1) throw Error(path, "unknown flags " + std::to_string(flags) + " (written by a newer deephash?)");
  const bool with_ids = flags & 1;
  const std::size_t words = std::size_t(words_for_bits(int(bits)));
  const std::size_t per_code = words * 8 + (with_ids ? 8 : 0);
  if (n > in.remaining() / per_code || n * per_code != in.remaining())
    throw Error(path, "the index declares " + std::to_string(n) + " codes of " + std::to_string(bits) + " bits" +
                          (with_ids ? " with ids" : "") + " (" + std::to_string(per_code) + " bytes each) but holds " +
                          std::to_string(in.remaining()) + " bytes for them");
  const std::uint8_t* code_bytes = in.take(std::size_t(n) * words * 8, "codes");
  const std::uint8_t* id_bytes = with_ids ? in.take(std::size_t(n) * 8, "ids") : nullptr;
  c.codes = IdOrderedCodes(int(bits));
  constexpr std::size_t kSlabCodes = 1 << 14;
  std::vector<std::uint64_t> slab;
  std::vector<idx_t> ids;
  idx_t previous = -1;
  for (std::uint64_t first = 0; first < n; first += kSlabCodes) {
    const std::size_t count = std::size_t(std::min<std::uint64_t>(kSlabCodes, n - first));
    slab.resize(count * words);
    std::memcpy(slab.data(), code_bytes + first * words * 8, slab.size() * 8);
    if (with_ids) {
      ids.resize(count);
      std::memcpy(ids.data(), id_bytes + first * 8, count * 8);
      for (std::size_t i = 0; i < count; ++i) {
        if (ids[i] <= previous)
          throw Error(path, "id " + std::to_string(ids[i]) + " at position " + std::to_string(first + i) +
                                (ids[i] < 0 ? " is negative" : " does not follow " + std::to_string(previous) + " in ascending order"));
        previous = ids[i];
      }
    }
    c.codes.add(count, slab.data(), with_ids ? ids.data() : nullptr, path);
  }
  return c;
}

}  // namespace deephash
