#pragma once
// A 64-bit digest of bytes, for telling apart things that should be the same — which model made
// a set of codes — not for detecting damage (each file's CRC-32 does that, core/checksum.hpp) and
// not against an adversary. Read 8 bytes at a time (little-endian, so every machine gives the same
// digest), each word multiplied and rotated into the state, the length mixed in at the end.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace deephash {

class Digest64 {
 public:
  void update(const void* data, std::size_t size) {
    auto p = static_cast<const unsigned char*>(data);
    length_ += size;
    while (size > 0 && pending_ > 0 && pending_ < 8) {  // complete the word an earlier call began
      word_ |= std::uint64_t(*p++) << (8 * pending_++);
      --size;
    }
    if (pending_ == 8) absorb();
    for (; size >= 8; size -= 8, p += 8) {
      word_ = 0;
      for (int b = 0; b < 8; ++b) word_ |= std::uint64_t(p[b]) << (8 * b);
      absorb();
    }
    for (; size > 0; --size) word_ |= std::uint64_t(*p++) << (8 * pending_++);
  }

  std::uint64_t value() const {
    std::uint64_t h = state_;
    if (pending_ > 0) h = mix(h, word_);
    h ^= length_;
    // splitmix64's finaliser: every input bit reaches every output bit.
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
  }

  // 16 lowercase hex digits.
  std::string hex() const {
    static const char digits[] = "0123456789abcdef";
    std::string s(16, '0');
    const std::uint64_t v = value();
    for (int i = 0; i < 16; ++i) s[std::size_t(i)] = digits[(v >> (60 - 4 * i)) & 15];
    return s;
  }

 private:
  static std::uint64_t mix(std::uint64_t h, std::uint64_t w) {
    w *= 0x87c37b91114253d5ull;
    w = (w << 31) | (w >> 33);
    w *= 0x4cf5ad432745937full;
    h ^= w;
    h = (h << 27) | (h >> 37);
    return h * 5 + 0x52dce729;
  }
  void absorb() {
    state_ = mix(state_, word_);
    word_ = 0;
    pending_ = 0;
  }

  std::uint64_t state_ = 0x9e3779b97f4a7c15ull, word_ = 0, length_ = 0;
  unsigned pending_ = 0;
};

inline std::string digest64_hex(const void* data, std::size_t size) {
  Digest64 d;
  d.update(data, size);
  return d.hex();
}

}  // namespace deephash
