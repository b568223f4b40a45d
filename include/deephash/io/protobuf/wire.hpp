#pragma once
// The Protocol Buffers binary wire format, without the protobuf library: a reader that walks the
// fields of a message in place (no copy of the input) and a writer that appends them.
//
// Each field is a tag varint (field number << 3 | wire type) followed by its payload:
//   0 varint, 1 fixed 8 bytes, 2 length-delimited (varint length, then the bytes),
//   5 fixed 4 bytes; 3 and 4 are the deprecated groups, which Caffe never uses.
// Inputs are untrusted: every length is checked against the bytes left before anything is read
// or allocated, varints longer than 10 bytes or wider than 64 bits are refused, and nested
// messages deeper than kMaxWireNesting are refused, so hostile files cannot crash us, exhaust the
// stack or make us allocate more than the file holds. Errors name the file and the byte offset.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"

namespace deephash {

enum class WireType : std::uint8_t {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
};

inline const char* wire_type_name(WireType type) {
  switch (type) {
    case WireType::Varint: return "varint";
    case WireType::Fixed64: return "fixed64";
    case WireType::LengthDelimited: return "length-delimited";
    case WireType::StartGroup: return "start-group";
    case WireType::EndGroup: return "end-group";
    case WireType::Fixed32: return "fixed32";
  }
  return "invalid";
}

// Protobuf's own default recursion limit; Caffe's messages nest about five deep.
inline constexpr int kMaxWireNesting = 100;
// Field numbers are 29 bits wide.
inline constexpr std::uint32_t kMaxFieldNumber = (1u << 29) - 1;

// The "source (byte offset N)" prefix of wire errors.
inline std::string wire_location(const std::string& source, std::size_t offset) {
  return source + " (byte offset " + std::to_string(offset) + ")";
}

// One field as read: its number, wire type, where its tag starts, and its payload.
struct WireField {
  std::uint32_t number = 0;
  WireType type = WireType::Varint;
  std::size_t offset = 0;            // of the tag, from the start of the file
  std::uint64_t value = 0;           // Varint, Fixed64 and Fixed32 payloads (raw bits)
  const std::uint8_t* data = nullptr;  // LengthDelimited payload, inside the reader's buffer
  std::size_t size = 0;
  std::size_t data_offset = 0;       // of the payload, from the start of the file
};

// Walks the fields of one message. The bytes must outlive the reader and the fields it returns.
class WireReader {
 public:
  // `base_offset` is where `data` starts in the file, so that errors give file offsets.
  WireReader(const std::uint8_t* data, std::size_t size, std::string source,
             std::size_t base_offset = 0, int depth = 0)
      : data_(data), size_(size), base_(base_offset), depth_(depth), source_(std::move(source)) {}
  WireReader(const std::vector<std::uint8_t>& bytes, std::string source)
      : WireReader(bytes.data(), bytes.size(), std::move(source)) {}

  const std::string& source() const { return source_; }
  std::size_t offset() const { return base_ + pos_; }  // from the start of the file
  std::size_t remaining() const { return size_ - pos_; }
  bool at_end() const { return pos_ == size_; }
  int depth() const { return depth_; }

  [[noreturn]] void fail_at(std::size_t file_offset, const std::string& problem) const {
    throw Error(wire_location(source_, file_offset), problem);
  }

  std::uint64_t read_varint(const char* what) {
    const std::size_t start = offset();
    std::uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (at_end()) fail_at(start, std::string("truncated varint in ") + what);
      const std::uint8_t b = data_[pos_++];
      if (i == 9 && (b & 0x80))
        fail_at(start, std::string("varint in ") + what + " is longer than 10 bytes");
      // The tenth byte holds bit 63 only; anything more cannot fit 64 bits.
      if (i == 9 && b > 1) fail_at(start, std::string("varint in ") + what + " overflows 64 bits");
      v |= std::uint64_t(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    return v;  // not reached: the tenth byte ends the varint or fails above
  }

  std::uint32_t read_fixed32(const char* what) {
    require(4, what);
    std::uint32_t v;
    std::memcpy(&v, data_ + pos_, 4);  // the project targets little-endian machines, as protobuf
    pos_ += 4;
    return v;
  }

  std::uint64_t read_fixed64(const char* what) {
    require(8, what);
    std::uint64_t v;
    std::memcpy(&v, data_ + pos_, 8);
    pos_ += 8;
    return v;
  }

  // Reads the next field (tag and payload); false at the end of the message. Unknown fields need
  // no separate skipping: reading one consumes it.
  bool next(WireField& field) {
    if (at_end()) return false;
    field = WireField{};
    field.offset = offset();
    const std::uint64_t tag = read_varint("a field tag");
    const std::uint64_t number = tag >> 3;
    const unsigned type = unsigned(tag & 7);
    if (number == 0 || number > kMaxFieldNumber)
      fail_at(field.offset, "invalid field number " + std::to_string(number) +
                                " (the data is corrupt or not a protobuf message)");
    field.number = std::uint32_t(number);
    field.type = WireType(type);
    switch (field.type) {
      case WireType::Varint: field.value = read_varint("a varint field"); break;
      case WireType::Fixed64: field.value = read_fixed64("a fixed64 field"); break;
      case WireType::Fixed32: field.value = read_fixed32("a fixed32 field"); break;
      case WireType::LengthDelimited: {
        const std::uint64_t length = read_varint("a length prefix");
        if (length > remaining())
          fail_at(field.offset, "field " + std::to_string(number) + " declares " +
                                    std::to_string(length) + " bytes but only " +
                                    std::to_string(remaining()) + " are left");
        field.data = data_ + pos_;
        field.size = std::size_t(length);
        field.data_offset = offset();
        pos_ += field.size;
        break;
      }
      case WireType::StartGroup:
      case WireType::EndGroup:
        fail_at(field.offset, "field " + std::to_string(number) +
                                  " is a group (wire type " + std::to_string(type) +
                                  "); groups are deprecated and not supported");
      default:
        fail_at(field.offset, "field " + std::to_string(number) + " has invalid wire type " +
                                  std::to_string(type));
    }
    return true;
  }

  // A reader over the nested message in a length-delimited field, one level deeper.
  WireReader message(const WireField& field) const {
    expect_type(field, WireType::LengthDelimited, "a nested message");
    if (depth_ + 1 > kMaxWireNesting)
      fail_at(field.offset, "messages nested deeper than " + std::to_string(kMaxWireNesting) +
                                " levels");
    return WireReader(field.data, field.size, source_, field.data_offset, depth_ + 1);
  }

  void expect_type(const WireField& field, WireType type, const std::string& what) const {
    if (field.type != type)
      fail_at(field.offset, what + " (field " + std::to_string(field.number) + ") has wire type " +
                                wire_type_name(field.type) + ", expected " +
                                wire_type_name(type));
  }

  // Repeated scalars arrive either one per field (unpacked) or many in one length-delimited field
  // (packed); readers must accept both. Each calls `on_value(raw)` per element.
  template <class OnValue>
  void for_each_varint(const WireField& field, const std::string& what, OnValue&& on_value) const {
    if (field.type == WireType::Varint) {
      on_value(field.value);
      return;
    }
    expect_type(field, WireType::LengthDelimited, what);
    WireReader packed(field.data, field.size, source_, field.data_offset, depth_);
    while (!packed.at_end()) on_value(packed.read_varint(what.c_str()));
  }

  void append_floats(const WireField& field, std::vector<float>& out, const std::string& what) const {
    append_fixed<float, WireType::Fixed32>(field, out, what);
  }
  void append_doubles(const WireField& field, std::vector<double>& out,
                      const std::string& what) const {
    append_fixed<double, WireType::Fixed64>(field, out, what);
  }

 private:
  void require(std::size_t n, const char* what) const {
    if (n > remaining())
      fail_at(offset(), std::string("truncated ") + what + ": needs " + std::to_string(n) +
                            " bytes, only " + std::to_string(remaining()) + " left");
  }

  template <class T, WireType Single>
  void append_fixed(const WireField& field, std::vector<T>& out, const std::string& what) const {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "fixed-width scalars only");
    if (field.type == Single) {
      T v;
      if constexpr (sizeof(T) == 4) {
        const auto bits = std::uint32_t(field.value);
        std::memcpy(&v, &bits, 4);
      } else {
        std::memcpy(&v, &field.value, 8);
      }
      out.push_back(v);
      return;
    }
    if (field.type != WireType::LengthDelimited)
      fail_at(field.offset, what + " (field " + std::to_string(field.number) + ") has wire type " +
                                wire_type_name(field.type) + ", expected " +
                                wire_type_name(Single) + " or packed");
    if (field.size % sizeof(T) != 0)
      fail_at(field.offset, "packed " + what + " has " + std::to_string(field.size) +
                                " bytes, not a multiple of " + std::to_string(sizeof(T)));
    // The size was checked against the file when the field was read: this allocation is bounded
    // by the input.
    const std::size_t n = field.size / sizeof(T), old = out.size();
    out.resize(old + n);
    if (n) std::memcpy(out.data() + old, field.data, field.size);
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::size_t base_;
  int depth_;
  std::string source_;
};

// Appends fields to a byte buffer. Nested messages are built in their own writer and added with
// write_message, since their length prefix must come first.
class WireWriter {
 public:
  static std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    while (v >= 0x80) {
      v >>= 7;
      ++n;
    }
    return n;
  }
  static std::size_t tag_size(std::uint32_t number) { return varint_size(std::uint64_t(number) << 3); }

  void write_varint(std::uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(std::uint8_t(v | 0x80));
      v >>= 7;
    }
    bytes_.push_back(std::uint8_t(v));
  }
  void write_tag(std::uint32_t number, WireType type) {
    write_varint(std::uint64_t(number) << 3 | std::uint64_t(type));
  }

  void write_varint_field(std::uint32_t number, std::uint64_t v) {
    write_tag(number, WireType::Varint);
    write_varint(v);
  }
  // int32 and int64 fields: negative values take ten bytes, as protobuf sign-extends them.
  void write_signed_field(std::uint32_t number, std::int64_t v) {
    write_varint_field(number, std::uint64_t(v));
  }
  void write_float_field(std::uint32_t number, float v) {
    write_tag(number, WireType::Fixed32);
    append(&v, 4);
  }
  void write_double_field(std::uint32_t number, double v) {
    write_tag(number, WireType::Fixed64);
    append(&v, 8);
  }
  void write_bytes_field(std::uint32_t number, const void* data, std::size_t size) {
    write_tag(number, WireType::LengthDelimited);
    write_varint(size);
    append(data, size);
  }
  void write_string_field(std::uint32_t number, const std::string& s) {
    write_bytes_field(number, s.data(), s.size());
  }
  void write_message(std::uint32_t number, const WireWriter& nested) {
    write_bytes_field(number, nested.bytes_.data(), nested.bytes_.size());
  }
  void write_packed_floats(std::uint32_t number, const float* values, std::size_t count) {
    write_bytes_field(number, values, count * sizeof(float));
  }
  void write_packed_varints(std::uint32_t number, const std::vector<std::uint64_t>& values) {
    std::size_t size = 0;
    for (std::uint64_t v : values) size += varint_size(v);
    write_tag(number, WireType::LengthDelimited);
    write_varint(size);
    for (std::uint64_t v : values) write_varint(v);
  }

  void append(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }

  std::vector<std::uint8_t>& bytes() { return bytes_; }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  void clear() { bytes_.clear(); }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace deephash
