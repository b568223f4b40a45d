#pragma once
// Gunzip with our own inflater: gzip data (RFC 1952) decompressed a piece at a time (RFC 1951),
// from a file or from a buffer in memory. Over a file, a .tar.gz of any size is read with bounded
// memory: a 64 KiB read buffer and a 32 KiB window plus one chunk of output. It is the one gzip
// decoder of deephash: gzip.hpp's in-memory gunzip() runs it over the buffer. The member headers
// are parsed by gzip_header.hpp; each member's CRC-32 and ISIZE are checked when the member
// ends, and the trailer must follow the final deflate block directly, so corruption is reported
// at the latest when the stream reaches it (bytes handed out before that point are not yet
// verified; readers that need verified bytes read to the end).
//
// Every length and code is checked before use: a corrupt or truncated file gives a
// deephash::Error naming the file and the problem, never a crash, an over-read or a hang (each
// call makes progress on the input or ends the stream).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deephash/core/checksum.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/file_path.hpp"
#include "deephash/data/gzip_header.hpp"

namespace deephash {

namespace detail {

// A canonical Huffman code (RFC 1951 3.2.2) with a lookup table for codes of up to kFastBits
// bits and a bit-by-bit walk for the longer ones.
struct HuffmanCode {
  static constexpr int kMaxBits = 15;
  static constexpr int kFastBits = 10;
  std::array<std::uint16_t, 1 << kFastBits> fast{};  // symbol << 4 | length; 0: not in the table
  std::array<std::uint16_t, kMaxBits + 1> count{};    // codes of each length
  std::vector<std::uint16_t> symbols;                 // by code, shortest first
  int max_length = 0;

  // Returns an empty string, or why the lengths do not form a usable code. Incomplete codes are
  // accepted (zlib writes a one-code distance tree that way); an unused bit pattern is then an
  // error when it is met.
  std::string build(const std::uint8_t* lengths, int n) {
    count.fill(0);
    fast.fill(0);
    symbols.assign(std::size_t(n), 0);
    max_length = 0;
    for (int s = 0; s < n; ++s) {
      count[lengths[s]]++;
      max_length = std::max<int>(max_length, lengths[s]);
    }
    count[0] = 0;
    int left = 1;
    for (int len = 1; len <= kMaxBits; ++len) {
      left = left * 2 - count[std::size_t(len)];
      if (left < 0) return "over-subscribed Huffman code lengths";
    }
    std::array<std::uint16_t, kMaxBits + 2> offset{};
    for (int len = 1; len <= kMaxBits; ++len) offset[std::size_t(len) + 1] = std::uint16_t(offset[std::size_t(len)] + count[std::size_t(len)]);
    // The first code of each length (RFC 1951 3.2.2, step 2).
    std::array<std::uint16_t, kMaxBits + 1> next_code{};
    for (int len = 1, c = 0; len <= kMaxBits; ++len) {
      c = (c + count[std::size_t(len) - 1]) << 1;
      next_code[std::size_t(len)] = std::uint16_t(c);
    }
    for (int s = 0; s < n; ++s) {
      const int len = lengths[s];
      if (len == 0) continue;
      symbols[offset[std::size_t(len)]++] = std::uint16_t(s);
      const int c = next_code[std::size_t(len)]++;
      if (len <= kFastBits) {
        int reversed = 0;  // deflate sends codes most significant bit first into an LSB-first stream
        for (int b = 0; b < len; ++b) reversed |= ((c >> b) & 1) << (len - 1 - b);
        for (int r = reversed; r < (1 << kFastBits); r += 1 << len)
          fast[std::size_t(r)] = std::uint16_t(s << 4 | len);
      }
    }
    return std::string();
  }
};

}  // namespace detail

// The decompressed bytes of a gzip file, read in order.
class GzipFileReader {
 public:
  explicit GzipFileReader(std::string path) : source_(std::move(path)) {
    require_not_directory(source_);
    file_.reset(std::fopen(source_.c_str(), "rb"));
    if (!file_) throw Error(source_, "cannot open file for reading");
    start_member();
  }

  // The gzip data in data[0, size), which must outlive the reader: the same decoder for bytes
  // already in memory (gunzip() in gzip.hpp reads them whole this way).
  GzipFileReader(const std::uint8_t* data, std::size_t size, std::string source)
      : source_(std::move(source)), memory_(data), memory_size_(size) {
    start_member();
  }

  const std::string& source() const { return source_; }

  // Copies up to n decompressed bytes to `dest`; fewer only at the end of the data. After an
  // error every later call throws the same error: the decoder's state is not to be trusted.
  std::size_t read(std::uint8_t* dest, std::size_t n) {
    if (failure_) throw *failure_;
    std::size_t done = 0;
    try {
      while (done < n) {
        if (out_pos_ == out_end_ && !fill()) break;
        const std::size_t k = std::min(n - done, out_end_ - out_pos_);
        if (dest != nullptr) std::memcpy(dest + done, out_.data() + out_pos_, k);
        out_pos_ += k;
        done += k;
      }
    } catch (const Error& e) {
      failure_ = e;
      throw;
    }
    position_ += done;
    return done;
  }

  // Passes over n bytes; returns how many there were (fewer only at the end).
  std::uint64_t skip(std::uint64_t n) {
    std::uint64_t done = 0;
    while (done < n) {
      const std::size_t k = read(nullptr, std::size_t(std::min<std::uint64_t>(n - done, kChunk)));
      if (k == 0) break;
      done += k;
    }
    return done;
  }

  // Decompressed bytes handed out so far.
  std::uint64_t position() const { return position_; }

 private:
  std::optional<Error> failure_;  // the first error, once there was one
  static constexpr std::size_t kInputBytes = 64 * 1024;
  static constexpr std::size_t kWindow = 32 * 1024;  // the farthest a deflate match reaches back
  static constexpr std::size_t kChunk = 64 * 1024;
  static constexpr std::size_t kMaxMatch = 258;
  static constexpr std::size_t kKeepBehind = 8;  // input bytes kept before in_pos_ (see unread_bits)

  struct FileClose {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  enum class Block { Header, Stored, Huffman, Done };

  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(source_, "corrupt deflate data" + detail::gzip_member_suffix(member_) + " near compressed byte " +
                             std::to_string(file_offset_ - (in_end_ - in_pos_)) + ": " + problem +
                             " (the file is truncated or corrupted)");
  }

  // ---- input bytes ----

  // Up to n more compressed bytes from the file or the memory buffer; 0 at the end.
  std::size_t read_input(std::uint8_t* dest, std::size_t n) {
    if (!file_) {
      const std::size_t k = std::min(n, memory_size_ - memory_pos_);
      if (k > 0) std::memcpy(dest, memory_ + memory_pos_, k);
      memory_pos_ += k;
      return k;
    }
    const std::size_t got = std::fread(dest, 1, n, file_.get());
    if (got == 0 && std::ferror(file_.get())) throw Error(source_, "read failed");
    return got;
  }

  // Refills the input buffer when it is used up; false at the end of the file. The last few
  // consumed bytes stay in front of in_pos_ so that unread_bits() can step back over them.
  bool refill_input() {
    if (in_pos_ < in_end_) return true;
    if (eof_) return false;
    const std::size_t keep = std::min(in_pos_, kKeepBehind);
    std::memmove(in_.data(), in_.data() + in_pos_ - keep, keep);
    in_pos_ = in_end_ = keep;
    const std::size_t got = read_input(in_.data() + keep, in_.size() - keep);
    if (got == 0) {
      eof_ = true;
      return false;
    }
    in_end_ += got;
    file_offset_ += got;
    return true;
  }

  // Moves the unread input to the front and reads until the buffer is full or the file ends, so
  // that a member header (parsed by gzip_header.hpp from one buffer) is there whole.
  void fill_input_buffer() {
    std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
    while (!eof_ && in_end_ < in_.size()) {
      const std::size_t got = read_input(in_.data() + in_end_, in_.size() - in_end_);
      if (got == 0) eof_ = true;
      in_end_ += got;
      file_offset_ += got;
    }
  }

  std::uint8_t byte(const char* what) {
    if (!refill_input())
      throw Error(source_, std::string("truncated gzip data") + detail::gzip_member_suffix(member_) +
                               ": the file ends inside " + what);
    return in_[in_pos_++];
  }

  // ---- bits (LSB first) ----

  void need_bits(int n) {
    while (bit_count_ < n) {
      std::uint64_t b = 0;
      if (refill_input()) {
        b = in_[in_pos_++];
      } else {
        pad_bits_ += 8;  // zeros past the end: only an error if they are actually consumed
        if (pad_bits_ > 64) fail("the data ends before the final block does");
      }
      bits_ |= b << bit_count_;
      bit_count_ += 8;
    }
  }
  void consume(int n) {
    bits_ >>= n;
    bit_count_ -= n;
    if (bit_count_ < pad_bits_) fail("the data ends before the final block does");
  }
  std::uint32_t take_bits(int n) {
    if (n == 0) return 0;
    need_bits(n);
    const std::uint32_t v = std::uint32_t(bits_ & ((std::uint64_t(1) << n) - 1));
    consume(n);
    return v;
  }
  // Drops the bits up to the next byte boundary and gives the whole bytes still in the bit
  // buffer back to the input, for byte-aligned reading (stored blocks, the trailer).
  void unread_bits() {
    consume(bit_count_ % 8);
    const std::size_t whole = std::size_t(bit_count_ - pad_bits_) / 8;
    in_pos_ -= whole;  // at most 8 bytes: refill_input keeps that many behind
    bits_ = 0;
    bit_count_ = 0;
    pad_bits_ = 0;
  }

  int decode(const detail::HuffmanCode& code) {
    need_bits(detail::HuffmanCode::kMaxBits);
    const std::uint16_t entry = code.fast[std::size_t(bits_ & ((1u << detail::HuffmanCode::kFastBits) - 1))];
    if (entry != 0) {
      consume(entry & 15);
      return entry >> 4;
    }
    // Longer codes, one bit at a time (RFC 1951's canonical order).
    int first = 0, index = 0, c = 0;
    for (int len = 1; len <= detail::HuffmanCode::kMaxBits; ++len) {
      c |= int((bits_ >> (len - 1)) & 1);
      const int count = code.count[std::size_t(len)];
      if (c - first < count) {
        consume(len);
        return code.symbols[std::size_t(index + c - first)];
      }
      index += count;
      first = (first + count) << 1;
      c <<= 1;
    }
    fail("a bit pattern that is no Huffman code of the block");
  }

  // ---- blocks ----

  void read_block_header() {
    final_block_ = take_bits(1) != 0;
    const std::uint32_t type = take_bits(2);
    if (type == 0) {
      unread_bits();
      const std::uint32_t len = byte("a stored block header") | std::uint32_t(byte("a stored block header")) << 8;
      const std::uint32_t nlen = byte("a stored block header") | std::uint32_t(byte("a stored block header")) << 8;
      if ((len ^ 0xFFFFu) != nlen) fail("a stored block's length and its complement disagree");
      stored_left_ = len;
      block_ = Block::Stored;
    } else if (type == 1) {
      std::uint8_t lengths[288 + 32];
      for (int s = 0; s < 288; ++s) lengths[s] = std::uint8_t(s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8);
      std::fill(lengths + 288, lengths + 320, std::uint8_t(5));
      literals_.build(lengths, 288);
      distances_.build(lengths + 288, 32);
      block_ = Block::Huffman;
    } else if (type == 2) {
      read_dynamic_tables();
      block_ = Block::Huffman;
    } else {
      fail("block type 3 (reserved)");
    }
  }

  void read_dynamic_tables() {
    const int nlit = int(take_bits(5)) + 257, ndist = int(take_bits(5)) + 1, nclen = int(take_bits(4)) + 4;
    if (nlit > 286 || ndist > 30) fail("more literal/length or distance codes than deflate has");
    static constexpr std::uint8_t kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    std::uint8_t clen[19] = {};
    for (int i = 0; i < nclen; ++i) clen[kOrder[i]] = std::uint8_t(take_bits(3));
    detail::HuffmanCode length_code;
    std::string why = length_code.build(clen, 19);
    if (!why.empty()) fail(why + " (code length code)");
    std::uint8_t lengths[286 + 30] = {};
    for (int i = 0; i < nlit + ndist;) {
      const int sym = decode(length_code);
      if (sym < 16) {
        lengths[i++] = std::uint8_t(sym);
        continue;
      }
      int repeat = 0;
      std::uint8_t value = 0;
      if (sym == 16) {
        if (i == 0) fail("a repeat of the previous code length with none before it");
        value = lengths[i - 1];
        repeat = 3 + int(take_bits(2));
      } else if (sym == 17) {
        repeat = 3 + int(take_bits(3));
      } else {
        repeat = 11 + int(take_bits(7));
      }
      if (i + repeat > nlit + ndist) fail("code lengths repeated past the number of codes");
      std::fill(lengths + i, lengths + i + repeat, value);
      i += repeat;
    }
    if (lengths[256] == 0) fail("no code for the end of the block");
    why = literals_.build(lengths, nlit);
    if (!why.empty()) fail(why + " (literal/length code)");
    why = distances_.build(lengths + nlit, ndist);
    if (!why.empty()) fail(why + " (distance code)");
  }

  // Decodes into out_ until a chunk is there or the member's data ends.
  void inflate_some() {
    static constexpr std::uint16_t kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static constexpr std::uint8_t kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static constexpr std::uint16_t kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                                    33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static constexpr std::uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                                    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    const std::size_t limit = kWindow + kChunk;
    while (out_end_ < limit && block_ != Block::Done) {
      if (block_ == Block::Header) {
        read_block_header();
      } else if (block_ == Block::Stored) {
        while (stored_left_ > 0 && out_end_ < limit) {
          if (!refill_input()) fail("the data ends inside a stored block");
          const std::size_t k = std::min({std::size_t(stored_left_), limit - out_end_, in_end_ - in_pos_});
          std::memcpy(out_.data() + out_end_, in_.data() + in_pos_, k);
          in_pos_ += k;
          out_end_ += k;
          member_total_ += k;
          stored_left_ -= std::uint32_t(k);
        }
        if (stored_left_ == 0) block_ = final_block_ ? Block::Done : Block::Header;
      } else {
        while (out_end_ < limit) {
          const int sym = decode(literals_);
          if (sym < 256) {
            out_[out_end_++] = std::uint8_t(sym);
            ++member_total_;
            continue;
          }
          if (sym == 256) {
            block_ = final_block_ ? Block::Done : Block::Header;
            break;
          }
          if (sym > 285) fail("literal/length symbol " + std::to_string(sym) + " (286 and 287 are not used)");
          const std::size_t length = kLengthBase[sym - 257] + take_bits(kLengthExtra[sym - 257]);
          const int dsym = decode(distances_);
          if (dsym > 29) fail("distance symbol " + std::to_string(dsym) + " (30 and 31 are not used)");
          const std::size_t distance = kDistBase[dsym] + take_bits(kDistExtra[dsym]);
          // out_ keeps at least kWindow bytes (or all there are) before out_end_; a match may not
          // reach into an earlier member.
          if (distance > member_total_ || distance > out_end_)
            fail("a match reaches back " + std::to_string(distance) + " bytes, before the start of the data");
          std::uint8_t* dst = out_.data() + out_end_;
          const std::uint8_t* src = dst - distance;
          for (std::size_t k = 0; k < length; ++k) dst[k] = src[k];  // may overlap: byte by byte
          out_end_ += length;
          member_total_ += length;
        }
      }
    }
  }

  // Makes more decompressed bytes available; false at the end of the file.
  bool fill() {
    for (;;) {
      if (ended_) return false;
      if (block_ == Block::Done) {
        finish_member();
        if (!start_member()) {
          ended_ = true;
          return false;
        }
      }
      // Slide: keep the last kWindow bytes as the match window.
      if (out_end_ > kWindow) {
        const std::size_t drop = out_end_ - kWindow;
        std::memmove(out_.data(), out_.data() + drop, kWindow);
        out_end_ = kWindow;
      }
      out_pos_ = out_end_;
      const std::size_t begin = out_end_;
      inflate_some();
      crc_ = crc32(out_.data() + begin, out_end_ - begin, crc_);
      if (out_end_ > begin) return true;
    }
  }

  void finish_member() {
    unread_bits();
    std::uint8_t trailer[8];
    for (auto& b : trailer) b = byte("the gzip trailer");
    const std::uint64_t total = member_total_;
    const std::uint32_t stored_crc = detail::load_le32(trailer), isize = detail::load_le32(trailer + 4);
    if (stored_crc != crc_)
      throw Error(source_, "CRC mismatch" + detail::gzip_member_suffix(member_) +
                               ": the file is corrupted (the gzip trailer says " + detail::hex32(stored_crc) +
                               ", the data gives " + detail::hex32(crc_) + ")");
    if (isize != std::uint32_t(total))
      throw Error(source_, "the deflate data" + detail::gzip_member_suffix(member_) + " decodes to " +
                               std::to_string(total) + " bytes but the gzip trailer's ISIZE declares " +
                               std::to_string(isize) + " (modulo 2^32): the file is truncated or corrupted");
  }

  // Parses the next member header; false at the end of the file.
  bool start_member() {
    if (!refill_input()) {
      if (member_ == 0) throw Error(source_, "not a gzip file: the file is empty");
      return false;
    }
    ++member_;
    fill_input_buffer();
    const std::uint64_t base = file_offset_ - in_end_;  // the file offset of in_[0]
    const std::size_t header = detail::parse_gzip_header(in_.data(), in_end_, 0, member_, source_, base);
    in_pos_ += header;
    block_ = Block::Header;
    final_block_ = false;
    crc_ = 0;
    member_total_ = 0;
    return true;
  }

  std::string source_;
  std::unique_ptr<std::FILE, FileClose> file_;  // null when reading from memory_
  const std::uint8_t* memory_ = nullptr;
  std::size_t memory_size_ = 0, memory_pos_ = 0;
  std::vector<std::uint8_t> in_ = std::vector<std::uint8_t>(kInputBytes);
  std::size_t in_pos_ = 0, in_end_ = 0;
  std::uint64_t file_offset_ = 0;  // file bytes read into in_ so far
  bool eof_ = false;
  std::uint64_t bits_ = 0;
  int bit_count_ = 0, pad_bits_ = 0;

  int member_ = 0;
  bool ended_ = false;  // the last member's trailer was checked
  Block block_ = Block::Header;
  bool final_block_ = false;
  std::uint32_t stored_left_ = 0;
  detail::HuffmanCode literals_, distances_;
  std::uint32_t crc_ = 0;
  std::uint64_t member_total_ = 0;  // bytes this member has decoded to so far

  std::vector<std::uint8_t> out_ = std::vector<std::uint8_t>(kWindow + kChunk + kMaxMatch);
  std::size_t out_pos_ = 0, out_end_ = 0;  // handed out up to out_pos_, decoded up to out_end_
  std::uint64_t position_ = 0;
};

}  // namespace deephash
