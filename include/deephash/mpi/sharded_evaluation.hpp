#pragma once
// Evaluation over a sharded database (`mpirun -np N deephash eval --codes db.dhc ...`): every
// rank holds its shard in an index under global ids (mpi/sharded_index.hpp), the queries come
// from rank 0, and the ranking the protocol scores is the exact merge of the ranks' top k, ties
// in database order: the same numbers as one process over the whole database.

#include <cstring>
#include <string>

#include "deephash/io/container/codes_file.hpp"
#include "deephash/mpi/sharded_index.hpp"
#include "deephash/workflow/evaluation.hpp"

namespace deephash::mpi {

// Collective: root's encoded set (read from `path` there: a file, or a manifest and its shards),
// on every rank. Only root reads the files; the others need not see them.
inline EncodedSet broadcast_encoded_set(Communicator& comm, const std::string& path, int root = 0) {
  std::vector<std::string> files;  // on root: the files the set is in, in order
  std::vector<std::uint8_t> count(8, 0);
  std::string problem;
  if (comm.rank() == root) {
    try {
      if (is_shard_manifest(path)) {
        const ShardManifest m = load_shard_manifest(path);
        if (m.holds != "codes") throw Error(path, "is a manifest of '" + m.holds + "' shards, not of encoded sets");
        for (const auto& s : m.shards) files.push_back(shard_file(path, s));
      } else {
        files.push_back(path);
      }
    } catch (const std::exception& e) {
      problem = e.what();
    }
    const std::uint64_t n = files.size();
    std::memcpy(count.data(), &n, 8);
  }
  comm.agree("read " + path, problem);
  comm.broadcast(count, root);
  std::uint64_t n = 0;
  std::memcpy(&n, count.data(), 8);
  EncodedSet set;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::vector<std::uint8_t> bytes, name;
    if (comm.rank() == root) {
      try {
        bytes = read_file_bytes(files[std::size_t(i)]);
      } catch (const std::exception& e) {
        problem = e.what();
      }
      name.assign(files[std::size_t(i)].begin(), files[std::size_t(i)].end());
    }
    comm.agree("read " + path, problem);
    comm.broadcast(name, root);
    comm.broadcast(bytes, root);
    try {
      const std::string file(name.begin(), name.end());
      append_encoded_set(set, parse_encoded_set(std::move(bytes), file), path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    comm.agree("read " + path, problem);
  }
  return set;
}

// Collective: the labels of the whole database, in global order, from every rank's shard.
inline std::vector<int> gather_labels(Communicator& comm, const EncodedShard& shard) {
  std::vector<std::uint8_t> mine;
  detail::append_pod(mine, shard.set.labels.data(), shard.set.labels.size());
  std::vector<int> all;
  for (const auto& part : comm.allgather(mine)) {
    std::size_t at = 0;
    const int* p = detail::take_pod<int>(part, at, part.size() / sizeof(int));
    all.insert(all.end(), p, p + part.size() / sizeof(int));
  }
  return all;
}

// Collective: the protocol's scores of `queries` against the sharded database, on every rank.
inline ProtocolResult evaluate_sharded(Communicator& comm, const EncodedShard& shard, const EncodedSet& queries,
                                       const std::string& name, const std::string& index_kind = "flat",
                                       unsigned threads = default_num_threads()) {
  std::string problem;
  try {
    check_sets_meet(shard.set, queries, "the database", "the queries");
  } catch (const std::exception& e) {
    problem = e.what();
  }
  comm.agree("evaluate " + name, problem);
  const std::unique_ptr<ShardedIndex> index = index_encoded_shards(comm, shard, index_kind, threads);
  const SingleLabelRelevance relevance(queries.labels, gather_labels(comm, shard));
  return evaluate_protocol(protocol_for(shard.set, queries, name, std::size_t(shard.total)), *index, queries.codes, relevance);
}

}  // namespace deephash::mpi
