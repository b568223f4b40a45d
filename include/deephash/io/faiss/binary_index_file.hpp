#pragma once
// FAISS's binary index files, byte for byte as faiss::write_index_binary writes them and
// faiss::read_index_binary reads them, for IndexBinaryFlat and for the IndexBinaryIDMap and
// IndexBinaryIDMap2 wrappers around one (the kinds Milvus and OpenSearch load too). Little-endian
// throughout:
//
//   flat:   "IBxF" header  u64 n_bytes, n_bytes code bytes (ntotal * code_size)
//   id map: "IBMp" or "IBM2" header  <a flat index, as above>  u64 n_ids, n_ids i64 ids
//   header: i32 d (bits), i32 code_size (bytes; 0 in an id map's), i64 ntotal, u8 is_trained,
//           i32 metric_type
//
// Codes are FAISS's byte layout (codes/faiss_layout.hpp). FAISS declares d in whole bytes
// (d == 8 * code_size): a code whose length is not a multiple of 8 is written padded with zero
// bits to the next byte, which leaves every Hamming distance as it was, and reads back at the
// padded length unless the reader is told the true one.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/codes/faiss_layout.hpp"
#include "deephash/core/atomic_file.hpp"
#include "deephash/core/byte_io.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

enum class FaissBinaryKind { Flat, IDMap, IDMap2 };

// What a FAISS binary index file holds: the codes and, for the id maps, each code's id.
struct FaissBinaryIndex {
  FaissBinaryKind kind = FaissBinaryKind::Flat;
  BitCodes codes;
  std::vector<std::int64_t> ids;  // one per code for IDMap and IDMap2; empty for Flat
};

namespace detail {

inline std::uint32_t faiss_fourcc(const char (&s)[5]) {
  return std::uint32_t(std::uint8_t(s[0])) | std::uint32_t(std::uint8_t(s[1])) << 8 |
         std::uint32_t(std::uint8_t(s[2])) << 16 | std::uint32_t(std::uint8_t(s[3])) << 24;
}

// FAISS's METRIC_L2: IndexBinary's default, which IndexBinaryFlat keeps though it ranks by
// Hamming distance.
constexpr std::int32_t kFaissBinaryMetric = 1;

// An id map's own header holds code_size 0: FAISS's IndexBinaryIDMap copies d from the index it
// wraps but leaves the code size of its default construction, and writes it so.
inline void write_faiss_header(ByteWriter& w, int code_bytes, std::int64_t n, bool id_map = false) {
  w.write<std::int32_t>(code_bytes * 8);
  w.write<std::int32_t>(id_map ? 0 : code_bytes);
  w.write<std::int64_t>(n);
  w.write<std::uint8_t>(1);  // is_trained
  w.write<std::int32_t>(kFaissBinaryMetric);
}

struct FaissHeader {
  std::int32_t d = 0, code_size = 0;
  std::int64_t ntotal = 0;
};

inline FaissHeader read_faiss_header(ByteReader& in, bool id_map = false) {
  FaissHeader h;
  h.d = in.read<std::int32_t>("dimension");
  h.code_size = in.read<std::int32_t>("code size");
  h.ntotal = in.read<std::int64_t>("number of codes");
  in.read<std::uint8_t>("is_trained");
  in.read<std::int32_t>("metric type");
  // In 64 bits: a hostile code size times 8 overflows an int.
  if (id_map && (h.code_size == 0 || std::int64_t(h.code_size) * 8 == h.d)) h.code_size = h.d / 8;  // see write_faiss_header
  const std::int64_t code_bits = std::int64_t(h.code_size) * 8;
  if (h.code_size < 1 || code_bits > std::int64_t(kMaxCodeBits) || h.d != code_bits)
    throw Error(in.source(), "a binary index of " + std::to_string(h.d) + " bits in " + std::to_string(h.code_size) +
                                 "-byte codes: FAISS needs d == 8 * code_size, and deephash codes of 1.." +
                                 std::to_string(kMaxCodeBits) + " bits");
  if (h.ntotal < 0) throw Error(in.source(), "a negative number of codes (" + std::to_string(h.ntotal) + ")");
  return h;
}

inline std::string fourcc_text(std::uint32_t h) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = char((h >> (8 * i)) & 0xff);
    s += (c >= 32 && c < 127) ? std::string(1, c) : "\\x" + hex_byte(std::uint8_t(c));
  }
  return s;
}

// u64 count, then `count` elements of `element_bytes`; `expected` elements, or an error naming `what`.
inline const std::uint8_t* read_faiss_vector(ByteReader& in, std::size_t expected, std::size_t element_bytes,
                                             const char* what) {
  const auto count = in.read<std::uint64_t>(what);
  if (count != expected)
    throw Error(in.source(), std::string(what) + ": " + std::to_string(count) + " entries where the header says " +
                                 std::to_string(expected));
  return in.take(std::size_t(count) * element_bytes, what);
}

// The flat index whose kind `h` has just been read.
inline BitCodes read_faiss_flat(ByteReader& in, std::uint32_t h, int bits) {
  if (h != faiss_fourcc("IBxF"))
    throw Error(in.source(), "a FAISS binary index of kind '" + fourcc_text(h) +
                                 "': deephash reads IndexBinaryFlat ('IBxF') and IndexBinaryIDMap / IDMap2 around one");
  const FaissHeader head = read_faiss_header(in);
  if (bits == 0) bits = head.d;
  if (bits > head.d || bits <= head.d - 8)
    throw Error(in.source(), "holds " + std::to_string(head.d) + "-bit codes, not codes of " + std::to_string(bits) + " bits");
  if (std::uint64_t(head.ntotal) > in.remaining() / std::size_t(head.code_size))
    throw Error(in.source(), "declares " + std::to_string(head.ntotal) + " codes of " + std::to_string(head.code_size) +
                                 " bytes but holds only " + std::to_string(in.remaining()) + " bytes");
  const std::size_t n = std::size_t(head.ntotal);
  const std::uint8_t* bytes = read_faiss_vector(in, n * std::size_t(head.code_size), 1, "code bytes");
  return from_faiss_bytes(bytes, n, bits);
}

}  // namespace detail

// The bytes of a FAISS binary index file holding `index`. Ids must be one per code for the id
// maps (and distinct for IDMap2, whose reverse map FAISS rebuilds on reading), absent for Flat.
inline std::vector<std::uint8_t> faiss_binary_index_bytes(const FaissBinaryIndex& index, const std::string& path) {
  const bool mapped = index.kind != FaissBinaryKind::Flat;
  if (mapped ? index.ids.size() != index.codes.size() : !index.ids.empty())
    throw Error(path, mapped ? "an id map needs one id per code: " + std::to_string(index.ids.size()) + " ids for " +
                                   std::to_string(index.codes.size()) + " codes"
                             : std::string("a flat FAISS index has no ids (write an IDMap or IDMap2)"));
  if (index.kind == FaissBinaryKind::IDMap2) {
    std::unordered_set<std::int64_t> seen;
    for (const std::int64_t id : index.ids)
      if (!seen.insert(id).second) throw Error(path, "id " + std::to_string(id) + " appears twice: IDMap2 needs distinct ids");
  }
  const int code_bytes = faiss_code_size(index.codes.bits());
  const std::int64_t n = std::int64_t(index.codes.size());
  ByteWriter w;
  if (mapped) {
    w.write<std::uint32_t>(detail::faiss_fourcc(index.kind == FaissBinaryKind::IDMap2 ? "IBM2" : "IBMp"));
    detail::write_faiss_header(w, code_bytes, n, true);
  }
  w.write<std::uint32_t>(detail::faiss_fourcc("IBxF"));
  detail::write_faiss_header(w, code_bytes, n);
  const std::vector<std::uint8_t> bytes = to_faiss_bytes(index.codes);
  w.write<std::uint64_t>(bytes.size());
  w.append(bytes.data(), bytes.size());
  if (mapped) {
    w.write<std::uint64_t>(index.ids.size());
    w.append(index.ids.data(), index.ids.size() * sizeof(std::int64_t));
  }
  return std::move(w.bytes());
}

// Writes `index` to `path` as FAISS would (a temporary file, then renamed over `path`).
inline void write_faiss_binary_index(const FaissBinaryIndex& index, const std::string& path) {
  write_file_atomically(path, faiss_binary_index_bytes(index, path));
}

// Whether `bytes` begin as a FAISS binary index file of a kind deephash reads: by the kind FAISS
// writes first ("IBxF", "IBMp" or "IBM2"), which no deephash file begins with.
inline bool is_faiss_binary_index(const std::uint8_t* bytes, std::size_t size) {
  if (size < 4) return false;
  std::uint32_t h;
  std::memcpy(&h, bytes, 4);
  return h == detail::faiss_fourcc("IBxF") || h == detail::faiss_fourcc("IBMp") || h == detail::faiss_fourcc("IBM2");
}

// A FAISS binary index from its file's `size` bytes; `path` names them in errors. `bits` (0:
// FAISS's d) is the true code length of a file written padded to whole bytes.
inline FaissBinaryIndex parse_faiss_binary_index(const std::uint8_t* bytes, std::size_t size, const std::string& path,
                                                 int bits = 0) {
  ByteReader in(bytes, size, path);
  FaissBinaryIndex index;
  const auto h = in.read<std::uint32_t>("index kind");
  if (h == detail::faiss_fourcc("IBMp") || h == detail::faiss_fourcc("IBM2")) {
    index.kind = h == detail::faiss_fourcc("IBM2") ? FaissBinaryKind::IDMap2 : FaissBinaryKind::IDMap;
    const detail::FaissHeader map = detail::read_faiss_header(in, true);
    index.codes = detail::read_faiss_flat(in, in.read<std::uint32_t>("index kind"), bits);
    if (std::int64_t(index.codes.size()) != map.ntotal)
      throw Error(path, "the id map declares " + std::to_string(map.ntotal) + " codes, its index holds " +
                            std::to_string(index.codes.size()));
    if (map.code_size != faiss_code_size(index.codes.bits()))
      throw Error(path, "the id map's dimension (" + std::to_string(map.d) + ") differs from its index's");
    const std::uint8_t* ids = detail::read_faiss_vector(in, index.codes.size(), sizeof(std::int64_t), "ids");
    index.ids.resize(index.codes.size());
    if (!index.ids.empty()) std::memcpy(index.ids.data(), ids, index.ids.size() * sizeof(std::int64_t));
  } else {
    index.codes = detail::read_faiss_flat(in, h, bits);
  }
  if (!in.at_end())
    throw Error(path, std::to_string(in.remaining()) + " bytes after the index: not a FAISS binary index file, or a damaged one");
  return index;
}
inline FaissBinaryIndex parse_faiss_binary_index(const std::vector<std::uint8_t>& bytes, const std::string& path,
                                                 int bits = 0) {
  return parse_faiss_binary_index(bytes.data(), bytes.size(), path, bits);
}

inline FaissBinaryIndex read_faiss_binary_index(const std::string& path, int bits = 0) {
  return parse_faiss_binary_index(read_file_bytes(path), path, bits);
}

}  // namespace deephash
