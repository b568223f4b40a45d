#pragma once
// One libFuzzer entry point per parser: each target feeds arbitrary bytes to one reader, which
// must either succeed or throw deephash::Error. Anything else — another exception, a crash, a
// leak, a hang, an allocation beyond libFuzzer's limit — is a finding.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <deephash/core/checksum.hpp>
#include <deephash/core/error.hpp>
#include <deephash/io/container/format.hpp>
#include <deephash/io/container/index_payload.hpp>

// The body sees the input as `bytes` (a std::vector<std::uint8_t>).
#define DEEPHASH_FUZZ_TARGET(...)                                                      \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    const std::vector<std::uint8_t> bytes(data, data + size);                        \
    try {                                                                             \
      __VA_ARGS__                                                                     \
    } catch (const deephash::Error&) {                                                \
    }                                                                                 \
    return 0;                                                                         \
  }

// For deephash's own files: the input without its last 4 bytes, with the header's payload size
// and the CRC-32 made to match. Random mutations would otherwise all stop at the checksum, while a
// hostile file can carry a valid one; resealed, they reach the payload parser. Seeds (whole files)
// stay valid.
inline std::vector<std::uint8_t> reseal_container(const std::vector<std::uint8_t>& input) {
  if (input.size() < deephash::kContainerHeaderBytes + 4) return input;
  std::vector<std::uint8_t> file(input.begin(), input.end() - 4);
  const std::uint64_t payload = file.size() - deephash::kContainerHeaderBytes;
  std::memcpy(file.data() + 16, &payload, sizeof payload);
  const std::uint32_t crc = deephash::crc32(file.data(), file.size());
  const auto* crc_bytes = reinterpret_cast<const std::uint8_t*>(&crc);
  file.insert(file.end(), crc_bytes, crc_bytes + 4);
  return file;
}

// For deephash's mappable index files: every chunk's CRC-32 and the header's recomputed, where
// the header's layout fits the file (anything else is refused before the checksums are read).
inline std::vector<std::uint8_t> reseal_mappable_index(std::vector<std::uint8_t> file) {
  using namespace deephash;
  if (file.size() < kIndexPageBytes) return file;
  auto u64 = [&](std::size_t at) {
    std::uint64_t v;
    std::memcpy(&v, file.data() + at, 8);
    return v;
  };
  std::uint32_t bits;
  std::memcpy(&bits, file.data() + 24, 4);
  const std::uint64_t n = u64(32), flags = u64(40), chunk = u64(48);
  if (bits < 1 || bits > std::uint32_t(kMaxCodeBits) || n > file.size() / 8 || chunk == 0 || chunk % kIndexPageBytes != 0 ||
      chunk > (std::uint64_t(1) << 32))
    return file;
  std::vector<std::uint64_t> sections(std::size_t(std::min<std::uint64_t>(u64(80), kMaxIndexSections)));
  for (std::size_t i = 0; i < sections.size(); ++i) sections[i] = std::min<std::uint64_t>(u64(88 + 8 * i), file.size());
  const MappableIndexLayout layout(int(bits), n, flags & 1, chunk, sections);
  if (layout.file_bytes != file.size()) return file;
  std::vector<std::uint32_t> crcs;
  append_chunk_crc32s(crcs, file.data() + layout.codes_offset, layout.codes_bytes, chunk);
  append_chunk_crc32s(crcs, file.data() + layout.ids_offset, layout.ids_bytes, chunk);
  for (std::size_t i = 0; i < sections.size(); ++i)
    append_chunk_crc32s(crcs, file.data() + layout.section_offsets[i], sections[i], chunk);
  if (!crcs.empty()) std::memcpy(file.data() + layout.checksums_offset, crcs.data(), crcs.size() * 4);
  const std::uint32_t crc = mappable_header_crc(file.data(), crcs);
  std::memcpy(file.data() + kIndexPageBytes - 4, &crc, 4);
  return file;
}
