#pragma once
// A collection split into shards, one file per shard, and the manifest that names them: what a
// sharded encode (mpirun -np N deephash encode) writes, and what a sharded search or evaluation
// reads, one shard per rank. Shard s holds the items [first, first + count) of the collection,
// in the collection's order: item i of shard s is global item first + i, the id it is searched
// and ranked by, so that the shards' union is the collection as one process would have it.
//
// Container kind "SHRD", version 1, little-endian:
//   string holds ("codes": encoded-set files), u32 bits, u64 total items, u32 shards, then per
//   shard: string file (relative to the manifest's folder), u64 first, u64 count.
// The shards are contiguous and in order (first of shard s+1 = first + count of shard s).

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/core/collective.hpp"  // slice_of: which items a shard holds
#include "deephash/io/container/format.hpp"

namespace deephash {

inline constexpr char kShardManifestKind[5] = "SHRD";

struct ShardManifest {
  struct Shard {
    std::string file;  // relative to the manifest's folder
    std::uint64_t first = 0, count = 0;
  };
  std::string holds = "codes";
  int bits = 0;
  std::uint64_t total = 0;
  std::vector<Shard> shards;
};

// Where shard `shard` of `shards` of the collection whose manifest is `manifest_path` goes:
// "db.dhc" -> "db.dhc.part-1-of-4", next to the manifest.
inline std::string shard_path(const std::string& manifest_path, int shard, int shards) {
  return manifest_path + ".part-" + std::to_string(shard) + "-of-" + std::to_string(shards);
}

// The path of shard s, for reading (the manifest stores it relative to its own folder).
inline std::string shard_file(const std::string& manifest_path, const ShardManifest::Shard& s) {
  return (std::filesystem::path(manifest_path).parent_path() / s.file).string();
}

// The shards a rank holds when `ranks` ranks read a manifest of `shards` shards: a contiguous
// range, so that its items are contiguous too (any number of ranks reads any number of shards).
inline std::pair<std::size_t, std::size_t> shards_of_rank(std::size_t shards, int rank, int ranks) {
  return slice_of(shards, rank, ranks);
}

inline void save_shard_manifest(const ShardManifest& m, const std::string& path) {
  ByteWriter w;
  w.write_string(m.holds);
  w.write<std::uint32_t>(std::uint32_t(m.bits));
  w.write<std::uint64_t>(m.total);
  w.write<std::uint32_t>(std::uint32_t(m.shards.size()));
  for (const auto& s : m.shards) {
    w.write_string(s.file);
    w.write<std::uint64_t>(s.first);
    w.write<std::uint64_t>(s.count);
  }
  save_container(path, kShardManifestKind, 1, w);
}

inline ShardManifest parse_shard_manifest(std::vector<std::uint8_t> bytes, const std::string& path) {
  const ContainerContents file = parse_container(std::move(bytes), path, kShardManifestKind, 1);
  ByteReader r = file.payload(path);
  ShardManifest m;
  m.holds = r.read_string("what the shards hold");
  m.bits = int(r.read<std::uint32_t>("code length"));
  m.total = r.read<std::uint64_t>("total items");
  const auto shards = r.read<std::uint32_t>("number of shards");
  if (shards > r.remaining() / 20) throw Error(path, "truncated: declares " + std::to_string(shards) + " shards");
  std::uint64_t next = 0;
  for (std::uint32_t i = 0; i < shards; ++i) {
    ShardManifest::Shard s;
    s.file = r.read_string("shard file");
    s.first = r.read<std::uint64_t>("shard's first item");
    s.count = r.read<std::uint64_t>("shard's items");
    if (s.file.empty() || std::filesystem::path(s.file).is_absolute() || s.file.find("..") != std::string::npos)
      throw Error(path, "shard " + std::to_string(i) + " names '" + s.file + "': shard files lie next to the manifest");
    if (s.first != next || s.count > m.total - s.first)
      throw Error(path, "shard " + std::to_string(i) + " holds items " + std::to_string(s.first) + " + " +
                            std::to_string(s.count) + ", which do not follow the shards before it within " +
                            std::to_string(m.total) + " items");
    next = s.first + s.count;
    m.shards.push_back(std::move(s));
  }
  if (!r.at_end()) throw Error(path, "unexpected bytes after the shard list");
  if (next != m.total)
    throw Error(path, "the shards hold " + std::to_string(next) + " items, the manifest declares " + std::to_string(m.total));
  if (m.bits < 1 || m.bits > kMaxCodeBits) throw Error(path, "code length " + std::to_string(m.bits) + " is out of range");
  return m;
}

inline ShardManifest load_shard_manifest(const std::string& path) {
  return parse_shard_manifest(read_file_bytes(path), path);
}

// Whether `path` is a shard manifest (rather than, say, an encoded set): its container kind.
inline bool is_shard_manifest(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char head[12] = {};
  const bool whole = std::fread(head, 1, sizeof head, f) == sizeof head;
  std::fclose(f);
  return whole && std::memcmp(head, kContainerMagic, 8) == 0 && std::memcmp(head + 8, kShardManifestKind, 4) == 0;
}

}  // namespace deephash
