#pragma once
// One libFuzzer entry point per parser: each target feeds arbitrary bytes to one reader, which
// must either succeed or throw deephash::Error. Anything else — another exception, a crash, a
// leak, a hang, an allocation beyond libFuzzer's limit — is a finding.

#include <cstddef>
#include <cstdint>
#include <vector>

#include <deephash/core/error.hpp>

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
