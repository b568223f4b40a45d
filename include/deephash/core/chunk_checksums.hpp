#pragma once
// CRC-32s of a section of a file, one per fixed-size chunk, checked the first time each chunk is
// used rather than when the file is opened: a 10^8-code index opens at once, a search checks the
// chunks it reads (once each, whichever thread gets there first), and verify_all() checks the
// rest on request. A chunk that fails is reported every time it is used, never marked good.
//
// A validator may check more of each chunk as it is verified (what a checksum cannot: a file
// that a hostile writer sealed with correct checksums).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/core/checksum.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

// The CRC-32 of each chunk_bytes-long chunk of `size` bytes (the last one shorter), appended to crcs.
inline void append_chunk_crc32s(std::vector<std::uint32_t>& crcs, const std::uint8_t* bytes, std::uint64_t size,
                                std::uint64_t chunk_bytes) {
  for (std::uint64_t at = 0; at < size; at += chunk_bytes)
    crcs.push_back(crc32(bytes + at, std::size_t(std::min(chunk_bytes, size - at))));
}

class ChunkChecksums {
 public:
  // validate(chunk, offset in the section, length): "" or what is wrong with the chunk.
  using Validator = std::function<std::string(const std::uint8_t*, std::size_t, std::size_t)>;

  // `section` is `size` bytes at `file_offset` of the file `path` (already in memory at `data`);
  // crcs[i] covers bytes [i * chunk_bytes, (i + 1) * chunk_bytes) of it.
  ChunkChecksums(const std::uint8_t* data, std::size_t size, std::size_t chunk_bytes, std::vector<std::uint32_t> crcs,
                 std::string path, std::string section, std::size_t file_offset, Validator validate = nullptr)
      : data_(data),
        size_(size),
        chunk_bytes_(chunk_bytes),
        crcs_(std::move(crcs)),
        checked_(new std::atomic<bool>[crcs_.size()]),
        path_(std::move(path)),
        section_(std::move(section)),
        file_offset_(file_offset),
        validate_(std::move(validate)) {
    for (std::size_t c = 0; c < crcs_.size(); ++c) checked_[c].store(false, std::memory_order_relaxed);
  }

  std::size_t num_chunks() const { return crcs_.size(); }

  // Checks every chunk that bytes [begin, end) of the section touch.
  void verify(std::size_t begin, std::size_t end) const {
    if (begin >= end) return;
    for (std::size_t c = begin / chunk_bytes_; c <= (end - 1) / chunk_bytes_ && c < crcs_.size(); ++c) verify_chunk(c);
  }
  void verify_all() const {
    if (all_checked_.load(std::memory_order_acquire)) return;  // lookups by id call this each time
    for (std::size_t c = 0; c < crcs_.size(); ++c) verify_chunk(c);
    all_checked_.store(true, std::memory_order_release);
  }

 private:
  void verify_chunk(std::size_t c) const {
    if (checked_[c].load(std::memory_order_acquire)) return;
    const std::size_t begin = c * chunk_bytes_, length = std::min(chunk_bytes_, size_ - begin);
    const std::string where = "chunk " + std::to_string(c) + " of the " + section_ + " (bytes " +
                              std::to_string(file_offset_ + begin) + " to " + std::to_string(file_offset_ + begin + length) + ")";
    if (crc32(data_ + begin, length) != crcs_[c]) throw Error(path_, "checksum mismatch in " + where + ": the file is corrupted");
    if (validate_) {
      const std::string problem = validate_(data_ + begin, begin, length);
      if (!problem.empty()) throw Error(path_, problem + " (in " + where + ")");
    }
    checked_[c].store(true, std::memory_order_release);
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t chunk_bytes_;
  std::vector<std::uint32_t> crcs_;
  std::unique_ptr<std::atomic<bool>[]> checked_;
  mutable std::atomic<bool> all_checked_{false};
  std::string path_;
  std::string section_;
  std::size_t file_offset_;
  Validator validate_;
};

}  // namespace deephash
