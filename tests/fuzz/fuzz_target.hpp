#pragma once
// One libFuzzer entry point per parser: each target feeds arbitrary bytes to one reader, which
// must either succeed or throw deephash::Error. Anything else — another exception, a crash, a
// leak, a hang, an allocation beyond libFuzzer's limit — is a finding.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <deephash/core/checksum.hpp>
#include <deephash/core/error.hpp>
#include <deephash/io/container/format.hpp>

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
