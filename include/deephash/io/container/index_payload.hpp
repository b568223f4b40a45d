#pragma once
// What every deephash index file holds: its codes and ids, inside the checksummed container
// (format.hpp). The flat index writes kind "HIDX", multi-index hashing "MIHX"; both payloads are
//
//   u32 bits, u32 tables (multi-index hashing: the tables asked for, 0 = automatic; flat: 0),
//   u64 n, u64 flags (bit 0: ids stored), n codes row-major (ceil(bits / 64) u64 words each),
//   then, with bit 0, n ids (i64, strictly ascending); without it the ids are 0 .. n - 1.
//
// Tables are not stored: they are rebuilt on load (a counting sort per table), so a file can
// never hold tables that disagree with its codes. HIDX version 1 files (u32 bits, u32 0, u64 n,
// codes) still load.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deephash/io/container/format.hpp"
#include "deephash/search/id_ordered_codes.hpp"

namespace deephash {

inline constexpr char kFlatIndexFileKind[5] = "HIDX";
inline constexpr std::uint32_t kFlatIndexFileVersion = 2;
inline constexpr char kMihIndexFileKind[5] = "MIHX";
inline constexpr std::uint32_t kMihIndexFileVersion = 1;

inline void write_index_file(const std::string& path, const char (&kind)[5], std::uint32_t version, int tables,
                             const IdOrderedCodes& codes) {
  const std::size_t words = std::size_t(codes.words());
  const std::uint64_t n = codes.size();
  const bool with_ids = !codes.sequential_ids();
  ContainerWriter out(path, kind, version, 24 + n * words * 8 + (with_ids ? n * 8 : 0));
  ByteWriter head;
  head.write<std::uint32_t>(std::uint32_t(codes.bits()));
  head.write<std::uint32_t>(std::uint32_t(tables));
  head.write<std::uint64_t>(n);
  head.write<std::uint64_t>(with_ids ? 1 : 0);
  out.write(head.bytes().data(), head.bytes().size());
  // Codes go out a slab at a time, converted back to the row-major layout users see.
  constexpr std::size_t kSlabCodes = 1 << 14;
  std::vector<std::uint64_t> slab;
  for (std::uint64_t first = 0; first < n; first += kSlabCodes) {
    const std::size_t count = std::size_t(std::min<std::uint64_t>(kSlabCodes, n - first));
    slab.resize(count * words);
    for (std::size_t i = 0; i < count; ++i) codes.copy_code(std::size_t(first + i), slab.data() + i * words);
    out.write(slab.data(), slab.size() * 8);
  }
  if (with_ids) {
    std::vector<idx_t> ids;
    for (std::uint64_t first = 0; first < n; first += kSlabCodes) {
      ids.clear();
      for (std::uint64_t p = first; p < std::min<std::uint64_t>(n, first + kSlabCodes); ++p) ids.push_back(codes.id_at(p));
      out.write(ids.data(), ids.size() * 8);
    }
  }
  out.commit();
}

// The kind of a deephash index file ("HIDX", "MIHX"), from its first bytes; "" if it is none.
inline std::string index_file_kind(const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kContainerMagic, 8) != 0) return "";
  return std::string(reinterpret_cast<const char*>(bytes.data() + 8), 4);
}

struct IndexFileContents {
  int tables = 0;
  IdOrderedCodes codes{1};
};

// The codes and ids of a verified index container; `path` names it in errors.
inline IndexFileContents parse_index_payload(const ContainerContents& file, const std::string& path, bool legacy_v1) {
  ByteReader in = file.payload(path);
  const auto bits = in.read<std::uint32_t>("code length");
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits))
    throw Error(path, "code length " + std::to_string(bits) + " bits is out of range 1.." + std::to_string(kMaxCodeBits));
  IndexFileContents c;
  const auto tables = in.read<std::uint32_t>(legacy_v1 ? "reserved field" : "number of tables");
  // 0 (automatic), else substrings of 1 to 64 bits.
  if (!legacy_v1 && tables != 0 && (tables > bits || tables < std::uint32_t(words_for_bits(int(bits)))))
    throw Error(path, "declares " + std::to_string(tables) + " tables for " + std::to_string(bits) +
                          "-bit codes; 0 (automatic) or " + std::to_string(words_for_bits(int(bits))) + " to " +
                          std::to_string(bits) + " are possible");
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
