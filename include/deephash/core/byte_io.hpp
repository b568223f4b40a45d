#pragma once
// Bounds-checked reading of untrusted bytes, and the matching writer. Every read checks the bytes
// left first, so a length field in a hostile file can never make us read past the end or
// allocate more than the file could hold; every error names the file.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/core/file_path.hpp"

namespace deephash {

namespace detail {

// How errors show a byte of a file: "0x1f".
inline std::string hex_byte(std::uint8_t b) {
  static const char digits[] = "0123456789abcdef";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

inline std::uint32_t read_be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

}  // namespace detail

// Reads a whole file into memory (into any contiguous container of bytes: an aligned one for
// data that SIMD kernels read in place).
template <class Bytes = std::vector<std::uint8_t>>
Bytes read_file_bytes(const std::string& path) {
  require_not_directory(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path, "cannot open file for reading");
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(path, "cannot determine the file size");
  Bytes bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw Error(path, "read failed after " + std::to_string(in.gcount()) + " of " +
                          std::to_string(size) + " bytes");
  return bytes;
}

// A cursor over bytes that came from `source` (a file name, for errors). Integers are
// little-endian unless a *_be reader is used (IDX files are big-endian).
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}
  ByteReader(const std::vector<std::uint8_t>& bytes, std::string source)
      : ByteReader(bytes.data(), bytes.size(), std::move(source)) {}

  const std::string& source() const { return source_; }
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }
  bool at_end() const { return pos_ == size_; }

  // Throws unless `n` more bytes are there; `what` names the field being read.
  void require(std::size_t n, const char* what) const {
    if (n > remaining())
      throw Error(source_, std::string("truncated: ") + what + " needs " + std::to_string(n) +
                               " bytes at offset " + std::to_string(pos_) + ", only " +
                               std::to_string(remaining()) + " left");
  }

  template <class T>
  T read(const char* what) {
    static_assert(std::is_trivially_copyable<T>::value, "read<T> needs a plain type");
    require(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));  // the project targets little-endian machines
    pos_ += sizeof(T);
    return v;
  }

  std::uint32_t read_u32_be(const char* what) {
    require(4, what);
    pos_ += 4;
    return detail::read_be32(data_ + pos_ - 4);
  }

  // A view of the next n bytes (valid while the underlying buffer lives).
  const std::uint8_t* take(std::size_t n, const char* what) {
    require(n, what);
    const std::uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  // Reads `count` plain values into a vector; checks the size before allocating.
  template <class T>
  std::vector<T> read_array(std::size_t count, const char* what) {
    if (count > remaining() / sizeof(T))
      throw Error(source_, std::string("truncated: ") + what + " declares " +
                               std::to_string(count) + " elements of " +
                               std::to_string(sizeof(T)) + " bytes but only " +
                               std::to_string(remaining()) + " bytes are left");
    std::vector<T> out(count);
    if (count) std::memcpy(out.data(), data_ + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return out;
  }

  void skip(std::size_t n, const char* what) { take(n, what); }

  // A string written by ByteWriter::write_string (u32 length, then the bytes).
  std::string read_string(const char* what) {
    const auto n = read<std::uint32_t>(what);
    const std::uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::string source_;
};

// Appends plain values to a byte vector, little-endian.
class ByteWriter {
 public:
  template <class T>
  void write(const T& v) {
    static_assert(std::is_trivially_copyable<T>::value, "write<T> needs a plain type");
    append(&v, sizeof(T));
  }
  void append(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void write_string(const std::string& s) {
    write<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    append(s.data(), s.size());
  }
  std::vector<std::uint8_t>& bytes() { return bytes_; }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace deephash
