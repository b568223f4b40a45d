#pragma once
// Sharded encoding: `mpirun -np N deephash encode ... --out db.dhc`. Rank r encodes the items
// slice_of(n, r, N) of the collection, streamed (workflow/encoding.hpp), into its shard
// db.dhc.part-r-of-N; once every shard is committed, rank 0 writes the manifest db.dhc
// (io/container/shard_manifest.hpp), which load_encoded_set reads back as the whole set. Each
// image is encoded alone by the same frontend whichever rank holds it, so the shards' union is
// the single-process encode: the same codes bit for bit, features within float rounding of the
// batch's matrix products.
//
// Failure anywhere (an unreadable image, a full disk, ranks that disagree on the collection)
// stops every rank with the message before any shard is put in place: each rank encodes into a
// staging file, and the shards are renamed into place and the manifest written only when every
// rank has finished. An earlier encode to the same --out stays whole until then. The staging files
// of an encode to the same --out that was killed (by any number of ranks) are removed when the
// next one starts, unless a live process still writes them (core/atomic_file.hpp).

#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "deephash/core/atomic_file.hpp"
#include "deephash/data/subset_source.hpp"
#include "deephash/io/container/shard_manifest.hpp"
#include "deephash/mpi/communicator.hpp"
#include "deephash/workflow/encoding.hpp"

namespace deephash::mpi {

// Throws on every rank unless every rank sees the same values (`what` names them in the message).
inline void agree_on_values(Communicator& comm, const std::string& step, const std::vector<std::uint64_t>& mine,
                            const std::string& what) {
  std::vector<std::uint64_t> highest = mine, lowest_inverted(mine.size());
  for (std::size_t i = 0; i < mine.size(); ++i) lowest_inverted[i] = ~mine[i];
  comm.allreduce_max(highest.data(), highest.size());
  comm.allreduce_max(lowest_inverted.data(), lowest_inverted.size());
  std::string problem;
  for (std::size_t i = 0; i < mine.size(); ++i)
    if (highest[i] != ~lowest_inverted[i]) problem = "the ranks disagree on " + what;
  // Every rank found the same disagreement: report it once, as rank 0's.
  comm.agree(step, comm.rank() == 0 ? problem : std::string());
}

// Removes the staging files of killed encodes to `out` (OUT.part-R-of-N.staged.tmp-XXXXXX, any R
// and N) that no live writer holds; returns their paths.
inline std::vector<std::string> remove_abandoned_staged_shards(const std::string& out) {
  const std::pair<std::string, std::string> where = detail::split_path(out);  // directory, file name
  const std::string prefix = where.second + ".part-", suffix = ".staged.tmp-";
  const std::size_t unique = sizeof detail::kTemporarySuffix - sizeof ".tmp-";  // mkstemp's six characters
  return remove_abandoned_temporaries(where.first, [&](const std::string& name) {
    return name.size() > prefix.size() + suffix.size() + unique && name.compare(0, prefix.size(), prefix) == 0 &&
           name.compare(name.size() - unique - suffix.size(), suffix.size(), suffix) == 0;
  });
}

struct ShardedEncodeResult {
  std::size_t first = 0, count = 0;  // this rank's items of the collection
  std::string shard;                  // its shard file
};

inline ShardedEncodeResult encode_sharded(Communicator& comm, Frontend& frontend, std::shared_ptr<const ImageSource> images,
                                          const Provenance& provenance, const std::string& out, EncodeOptions options = {}) {
  const std::string step = "sharded encode of " + images->spec() + " into " + out;
  const std::size_t n = images->size();
  // Each shard holds the items of its slice (the manifest says which): none may be left out.
  if (options.skip_unreadable) throw Error(step, "unreadable items cannot be skipped in a sharded encode: encode in one process");
  agree_on_values(comm, step, {n, std::uint64_t(frontend.code_bits()), std::uint64_t(options.with_features)},
                  "the collection's size, the code length or --features (each rank must open the same images and model)");

  const int rank = comm.rank(), ranks = comm.size();
  const auto [first, last] = slice_of(n, rank, ranks);
  ShardedEncodeResult mine{first, last - first, shard_path(out, rank, ranks)};
  std::vector<std::size_t> items(mine.count);
  std::iota(items.begin(), items.end(), first);
  SubsetSource slice(images, std::move(items), images->spec() + " (shard " + std::to_string(rank) + " of " +
                                                   std::to_string(ranks) + ")");
  options.show_progress = options.show_progress && rank == 0;  // rank 0's bar stands for all: slices are equal
  options.label += " (rank 0 of " + std::to_string(ranks) + ")";

  // Encoded into a staging file first: a failure on any rank leaves an earlier encode to the same
  // --out (its manifest and shards) as it was.
  const std::string staged = mine.shard + ".staged";
  if (rank == 0) remove_abandoned_staged_shards(out);
  std::string problem;
  try {
    encode_source_to_file(frontend, slice, provenance, staged, options);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  try {
    comm.agree(step, problem);
    std::error_code renamed;
    std::filesystem::rename(staged, mine.shard, renamed);
    comm.agree(step, renamed ? mine.shard + ": cannot rename the staged shard into place: " + renamed.message() : "");
    std::string manifest_problem;
    if (rank == 0) {
      ShardManifest m;
      m.bits = frontend.code_bits();
      m.total = n;
      for (int r = 0; r < ranks; ++r) {
        const auto [b, e] = slice_of(n, r, ranks);
        m.shards.push_back({std::filesystem::path(shard_path(out, r, ranks)).filename().string(), b, e - b});
      }
      try {
        save_shard_manifest(m, out);
      } catch (const std::exception& e) {
        manifest_problem = e.what();
      }
    }
    comm.agree(step, manifest_problem);
  } catch (...) {
    std::remove(staged.c_str());
    throw;
  }
  return mine;
}

}  // namespace deephash::mpi
