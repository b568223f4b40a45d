#pragma once
// The index's search layout. Codes are interleaved in blocks of kBlockCodes: within a block, word
// w of its 16 codes is stored contiguously, so a single aligned register load takes the same word
// of 8 (AVX-512), 4 (AVX2) or 2 (SSE) consecutive codes. The last block is zero-padded.
//
//   block b, word w, code c (0 <= c < 16)  ->  data[(b * words + w) * 16 + c]
//
// Users never see this layout: codes go in and come out row-major (see BitCodes).
//
// The blocks either live in memory of their own or are a view into a file region (a mapped
// index file stores exactly this layout); a view is copied into memory of its own on the first
// change, and checks its file's chunk checksums as blocks are read (check()).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/aligned_buffer.hpp"
#include "deephash/core/chunk_checksums.hpp"
#include "deephash/core/file_region.hpp"

namespace deephash {

inline constexpr std::size_t kBlockCodes = 16;

class CodeBlocks {
 public:
  explicit CodeBlocks(int bits = 64) : bits_(bits), words_(words_for_bits(bits)) {}

  // n codes already in this layout at `data` (num_blocks() * words_per_block() words, 64-byte
  // aligned) inside `region`, which the view keeps alive; `checks` (or null) covers those bytes.
  static CodeBlocks view(int bits, std::size_t n, const std::uint64_t* data, std::shared_ptr<const FileRegion> region,
                         std::shared_ptr<const ChunkChecksums> checks) {
    CodeBlocks b(bits);
    b.n_ = n;
    b.view_ = data;
    b.region_ = std::move(region);
    b.checks_ = std::move(checks);
    return b;
  }

  int bits() const { return bits_; }
  int words() const { return words_; }
  std::size_t size() const { return n_; }
  std::size_t num_blocks() const { return (n_ + kBlockCodes - 1) / kBlockCodes; }
  std::size_t words_per_block() const { return std::size_t(words_) * kBlockCodes; }

  const std::uint64_t* block(std::size_t b) const { return base() + b * words_per_block(); }

  // Whether the blocks are a view into a file region, and that region.
  bool is_view() const { return region_ != nullptr; }
  const FileRegion* region() const { return region_.get(); }
  // Checks blocks [first, last) against the file's checksums (once each) when they are a view;
  // throws an Error naming the file and chunk if they are corrupted.
  void check(std::size_t first, std::size_t last) const {
    if (checks_) checks_->verify(first * words_per_block() * 8, last * words_per_block() * 8);
  }
  void check_all() const {
    if (checks_) checks_->verify_all();
  }

  // Appends n row-major codes; bits past `bits` are cleared.
  void append(const std::uint64_t* rows, std::size_t n) {
    if (is_view()) own();
    const std::size_t total = n_ + n;
    data_.resize(((total + kBlockCodes - 1) / kBlockCodes) * words_per_block(), 0);
    const std::uint64_t mask = last_word_mask(bits_);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t id = n_ + i;
      std::uint64_t* dst = data_.data() + (id / kBlockCodes) * words_per_block() + id % kBlockCodes;
      const std::uint64_t* src = rows + i * std::size_t(words_);
      for (int w = 0; w < words_; ++w)
        dst[std::size_t(w) * kBlockCodes] = src[w] & (w == words_ - 1 ? mask : ~std::uint64_t(0));
    }
    n_ = total;
  }

  // Code `id`, row-major, into out[0 .. words).
  void copy_code(std::size_t id, std::uint64_t* out) const {
    check(id / kBlockCodes, id / kBlockCodes + 1);
    const std::uint64_t* src = base() + (id / kBlockCodes) * words_per_block() + id % kBlockCodes;
    for (int w = 0; w < words_; ++w) out[w] = src[std::size_t(w) * kBlockCodes];
  }

  void clear() {
    *this = CodeBlocks(bits_);
  }

  // Bytes of memory held: a view into a file read whole counts the whole file (ids included); a
  // view into a mapped file counts nothing (its pages are the page cache's, shared with every
  // process that maps the file).
  std::size_t memory_bytes() const {
    if (region_) return region_->mapped() ? 0 : region_->size();
    return data_.capacity() * sizeof(std::uint64_t);
  }

 private:
  const std::uint64_t* base() const { return view_ != nullptr ? view_ : data_.data(); }

  // Copies a view's codes (checked first, so that corruption is never copied) into memory of its own.
  void own() {
    check_all();
    data_.assign(view_, view_ + num_blocks() * words_per_block());
    view_ = nullptr;
    region_.reset();
    checks_.reset();
  }

  int bits_;
  int words_;
  std::size_t n_ = 0;
  AlignedVector<std::uint64_t> data_;
  const std::uint64_t* view_ = nullptr;
  std::shared_ptr<const FileRegion> region_;
  std::shared_ptr<const ChunkChecksums> checks_;
};

}  // namespace deephash
