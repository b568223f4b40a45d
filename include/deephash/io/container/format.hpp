#pragma once
// The envelope of every file deephash writes (indexes, models):
//
//   offset  size  field
//   0       8     magic "DEEPHASH"
//   8       4     kind, four ASCII letters ("HIDX" index, "MODL" model, ...)
//   12      4     format version of that kind (u32, little-endian)
//   16      8     payload size in bytes (u64)
//   24      n     payload
//   24 + n  4     CRC-32 of every byte before it
//
// Files are written through AtomicFileWriter, so a failed save never damages the previous file;
// reading checks magic, kind, version, size and checksum before the payload is parsed.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deephash/core/atomic_file.hpp"
#include "deephash/core/byte_io.hpp"
#include "deephash/core/checksum.hpp"
#include "deephash/core/error.hpp"

namespace deephash {

inline constexpr char kContainerMagic[8] = {'D', 'E', 'E', 'P', 'H', 'A', 'S', 'H'};
inline constexpr std::size_t kContainerHeaderBytes = 24;

// Streams a container to disk: the payload size is declared up front, then written in pieces.
class ContainerWriter {
 public:
  ContainerWriter(const std::string& path, const char (&kind)[5], std::uint32_t version,
                  std::uint64_t payload_bytes)
      : path_(path), out_(path), remaining_(payload_bytes) {
    ByteWriter header;
    header.append(kContainerMagic, 8);
    header.append(kind, 4);
    header.write<std::uint32_t>(version);
    header.write<std::uint64_t>(payload_bytes);
    put(header.bytes().data(), header.bytes().size());
    remaining_ = payload_bytes;
  }

  void write(const void* data, std::size_t size) {
    if (size > remaining_)
      throw Error(path_, "internal error: payload larger than declared");
    remaining_ -= size;
    put(data, size);
  }

  void commit() {
    if (remaining_ != 0) throw Error(path_, "internal error: payload smaller than declared");
    out_.write(&crc_, sizeof crc_);
    out_.commit();
  }

 private:
  void put(const void* data, std::size_t size) {
    crc_ = crc32(data, size, crc_);
    out_.write(data, size);
  }

  std::string path_;
  AtomicFileWriter out_;
  std::uint64_t remaining_;
  std::uint32_t crc_ = 0;
};

// Writes a payload built in memory as one container: what every file but the index (which streams
// its codes) does.
inline void save_container(const std::string& path, const char (&kind)[5], std::uint32_t version,
                           const ByteWriter& payload) {
  ContainerWriter out(path, kind, version, payload.bytes().size());
  out.write(payload.bytes().data(), payload.bytes().size());
  out.commit();
}

struct ContainerContents {
  std::uint32_t version = 0;
  std::vector<std::uint8_t> bytes;  // the whole file
  std::size_t payload_offset = kContainerHeaderBytes;
  std::size_t payload_size = 0;
  // A reader over the payload only, naming the file in its errors.
  ByteReader payload(const std::string& source) const {
    return ByteReader(bytes.data() + payload_offset, payload_size, source);
  }
};

// Verifies the bytes of a container of the given kind whose version is 1 .. max_version; `path`
// names them in errors.
inline ContainerContents parse_container(std::vector<std::uint8_t> bytes, const std::string& path, const char (&kind)[5],
                                         std::uint32_t max_version) {
  ContainerContents c;
  c.bytes = std::move(bytes);
  const std::string what = std::string("deephash ") + kind + " file";
  if (c.bytes.size() < 8 || std::memcmp(c.bytes.data(), kContainerMagic, 8) != 0)
    throw Error(path, "not a " + what + " (no DEEPHASH signature at the start)");
  ByteReader header(c.bytes, path);
  header.skip(8, "signature");
  const std::uint8_t* file_kind = header.take(4, "file kind");
  if (std::memcmp(file_kind, kind, 4) != 0)
    throw Error(path, "is a deephash '" + std::string(reinterpret_cast<const char*>(file_kind), 4) +
                          "' file, not a " + what);
  c.version = header.read<std::uint32_t>("format version");
  if (c.version == 0 || c.version > max_version)
    throw Error(path, "format version " + std::to_string(c.version) +
                          " is not supported: this build of deephash reads " + what +
                          " versions 1 to " + std::to_string(max_version) +
                          (c.version > max_version ? " (written by a newer deephash?)" : ""));
  const auto payload = header.read<std::uint64_t>("payload size");
  const std::uint64_t expected = std::uint64_t(kContainerHeaderBytes) + payload + 4;
  if (payload > c.bytes.size() || expected != c.bytes.size())
    throw Error(path, (expected > c.bytes.size() ? "truncated: " : "unexpected trailing bytes: ") +
                          std::string("the header declares ") + std::to_string(payload) +
                          " payload bytes, so the file should have " + std::to_string(expected) +
                          " bytes, but it has " + std::to_string(c.bytes.size()));
  c.payload_size = std::size_t(payload);
  std::uint32_t stored;
  std::memcpy(&stored, c.bytes.data() + c.bytes.size() - 4, 4);
  if (crc32(c.bytes.data(), c.bytes.size() - 4) != stored)
    throw Error(path, "checksum mismatch: the file is corrupted");
  return c;
}

inline ContainerContents read_container(const std::string& path, const char (&kind)[5], std::uint32_t max_version) {
  return parse_container(read_file_bytes(path), path, kind, max_version);
}

}  // namespace deephash
