#pragma once
// Evaluation over a sharded database (`mpirun -np N deephash eval --codes db.dhc ...`): every
// rank holds its shard in an index under global ids (mpi/sharded_index.hpp), the queries come
// from rank 0, and the ranking the protocol scores is the exact merge of the ranks' top k, ties
// in database order: the same numbers as one process over the whole database.

#include <string>

#include "deephash/io/container/codes_file.hpp"
#include "deephash/mpi/sharded_index.hpp"
#include "deephash/workflow/evaluation.hpp"

namespace deephash::mpi {

// Collective: root's encoded set (read from `path` there), on every rank.
inline EncodedSet broadcast_encoded_set(Communicator& comm, const std::string& path, int root = 0) {
  std::vector<std::uint8_t> bytes;
  std::string problem;
  if (comm.rank() == root) {
    try {
      bytes = read_file_bytes(path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  comm.agree("read " + path, problem);
  comm.broadcast(bytes, root);
  return parse_encoded_set(std::move(bytes), path);
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
