#pragma once
// Saving and loading a HammingIndex. Payload (container kind "HIDX", version 1):
//   u32 bits, u32 reserved (0), u64 n, then n codes row-major (ceil(bits / 64) u64 words each).

#include <cstdint>
#include <string>
#include <vector>

#include "deephash/io/container/format.hpp"
#include "deephash/search/hamming_index.hpp"

namespace deephash {

inline constexpr char kIndexFileKind[5] = "HIDX";
inline constexpr std::uint32_t kIndexFileVersion = 1;

template <class Backend>
void save_index(const BasicHammingIndex<Backend>& index, const std::string& path) {
  const std::size_t words = std::size_t(index.words_per_code());
  const std::uint64_t n = std::uint64_t(index.size());
  ContainerWriter out(path, kIndexFileKind, kIndexFileVersion, 16 + n * words * 8);
  ByteWriter head;
  head.write<std::uint32_t>(std::uint32_t(index.bits()));
  head.write<std::uint32_t>(0);
  head.write<std::uint64_t>(n);
  out.write(head.bytes().data(), head.bytes().size());
  // Codes go out a slab at a time, converted back to the row-major layout users see.
  std::vector<std::uint64_t> slab;
  constexpr std::size_t kSlabCodes = 1 << 14;
  for (std::uint64_t first = 0; first < n; first += kSlabCodes) {
    const std::size_t count = std::size_t(std::min<std::uint64_t>(kSlabCodes, n - first));
    slab.resize(count * words);
    for (std::size_t i = 0; i < count; ++i) index.reconstruct(idx_t(first + i), slab.data() + i * words);
    out.write(slab.data(), slab.size() * 8);
  }
  out.commit();
}

// An index from the bytes of an index file; `path` names them in errors.
template <class Backend = simd::DefaultBackend>
BasicHammingIndex<Backend> parse_index(std::vector<std::uint8_t> bytes, const std::string& path,
                                       unsigned num_threads = default_num_threads()) {
  const ContainerContents file = parse_container(std::move(bytes), path, kIndexFileKind, kIndexFileVersion);
  ByteReader in = file.payload(path);
  const auto bits = in.read<std::uint32_t>("code length");
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits))
    throw Error(path, "code length " + std::to_string(bits) + " bits is out of range 1.." +
                          std::to_string(kMaxCodeBits));
  in.skip(4, "reserved field");
  const auto n = in.read<std::uint64_t>("number of codes");
  const std::size_t words = std::size_t(words_for_bits(int(bits)));
  if (n > in.remaining() / (words * 8) || n * words * 8 != in.remaining())
    throw Error(path, "the index declares " + std::to_string(n) + " codes of " +
                          std::to_string(bits) + " bits (" + std::to_string(words * 8) +
                          " bytes each) but holds " + std::to_string(in.remaining()) + " bytes of codes");
  BasicHammingIndex<Backend> index(int(bits), num_threads);
  const std::uint8_t* codes = in.take(std::size_t(n) * words * 8, "codes");
  std::vector<std::uint64_t> slab;
  constexpr std::size_t kSlabCodes = 1 << 14;
  for (std::uint64_t first = 0; first < n; first += kSlabCodes) {
    const std::size_t count = std::size_t(std::min<std::uint64_t>(kSlabCodes, n - first));
    slab.resize(count * words);
    std::memcpy(slab.data(), codes + first * words * 8, slab.size() * 8);
    index.add(idx_t(count), slab.data());
  }
  return index;
}

template <class Backend = simd::DefaultBackend>
BasicHammingIndex<Backend> load_index(const std::string& path, unsigned num_threads = default_num_threads()) {
  return parse_index<Backend>(read_file_bytes(path), path, num_threads);
}

}  // namespace deephash
