// deephash eval: models against LSH and ITQ, the paper's table.

#include <cstdio>
#include <sstream>

#include <deephash/io/container/codes_file.hpp>

#ifdef DEEPHASH_WITH_MPI
#include <deephash/mpi/sharded_evaluation.hpp>
#endif

#include "command.hpp"
#include "commands.hpp"
#include "report.hpp"

namespace deephash::cli {

#ifdef DEEPHASH_WITH_MPI
// Each rank its shard of --codes, the queries from rank 0; rank 0 reports.
static int eval_sharded(const Args& args, Job& job, const std::string& out, unsigned threads) {
  mpi::Communicator& comm = job.communicator();
  const std::string db_path = args.get("codes"), queries_path = args.required("query-codes");
  // A sharded set, or one file that each rank slices.
  const mpi::EncodedShard shard = mpi::load_encoded_shard_of_rank(comm, db_path);
  const EncodedSet queries = mpi::broadcast_encoded_set(comm, queries_path);
  const std::string name = shard.set.source.empty() ? "encoded sets" : shard.set.source;
  const ProtocolResult r = mpi::evaluate_sharded(comm, shard, queries, name, args.get("shard-index", "flat"), threads);
  if (!job.leads()) return 0;
  const std::vector<ResultRecord> records = {result_record("deephash (ours)", name, shard.set.codes.bits(), r.scores, 0, r.seconds)};
  std::printf("%s: %zu queries against %llu database images in %d shards (ranks)\n%s\n\n", r.protocol.name.c_str(),
              queries.codes.size(), (unsigned long long)shard.total, job.size(), r.protocol.description.c_str());
  print_record(records.front());
  std::printf("\n%s\n", results_table(records).c_str());
  for (const std::string& f : write_reports(records, out, name)) std::printf("wrote %s\n", f.c_str());
  return 0;
}
#endif

int command_eval(int argc, char** argv, Job& job) {
  Options options = image_set_options();
  options.insert(options.end(), {{"model", "MODEL[,MODEL...]", "models to encode the sets with"},
                                 {"codes", "CODES", "an encoded database instead of --model (with --query-codes)"},
                                 {"query-codes", "CODES", "the encoded queries"},
                                 {"baselines", "LIST", "code lengths for LSH and ITQ (default: those of the models); 'none' to skip"},
                                 {"euclidean", "", "add exact Euclidean ranking on raw pixels"},
                                 {"tta", "KIND", "test-time augmentation instead of the models' own: none, flip, shift:N or flip+shift:N"},
                                 {"shard-index", "KIND", "under mpirun: each rank's index of its shard, flat (default) or mih"},
                                 {"out", "DIR", "(default deephash-out)"},
                                 threads_option()});
  const CommandSpec spec{
      "eval", "(--dataset SPEC | --database SPEC --queries SPEC) --model MODEL[,MODEL...] | --codes CODES --query-codes CODES",
      "Encodes the database and query images with each model (or takes sets encoded before), ranks the\n"
      "database by Hamming distance for every query (ties in database order) and reports mAP@1000 (the\n"
      "paper's normalisation) and precision@k, next to LSH and ITQ on raw pixels at the same code\n"
      "lengths. The paper's CIFAR-10 protocol applies to its exact sets (cifar10:DIR). Prints the\n"
      "paper-style table; writes results.json, precision@k plots (SVG) and a retrieval grid (PNG).\n\n"
      "Under mpirun -np N with --codes (a sharded set from `mpirun -np N deephash encode`, or one file\n"
      "that each rank slices): each rank indexes its shard, rank 0 reads the queries and every rank\n"
      "searches them; the merged rankings are exactly one process's, and so are the scores.",
      {options},
      true};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const unsigned threads = threads_from(args);
  ThreadPool pool(threads);
  const std::string out = args.get("out", "deephash-out");
  if (job.leads()) std::filesystem::create_directories(out);
  const std::string grid = (std::filesystem::path(out) / "retrieval_examples.png").string();

  if (job.sharded() && !args.has("codes"))
    throw Error("deephash eval", "under mpirun evaluates a sharded database: give --codes and --query-codes");
  if (args.has("shard-index") && !job.sharded()) throw Error("--shard-index", "is for runs under mpirun");
  if (args.has("codes")) {
    if (args.has("model")) throw Error("deephash eval", "give --model (to encode images) or --codes with --query-codes, not both");
#ifdef DEEPHASH_WITH_MPI
    if (job.sharded()) return eval_sharded(args, job, out, threads);
#endif
    const EncodedSet db = load_encoded_set(args.get("codes")), queries = load_encoded_set(args.required("query-codes"));
    Notes notes;
    notes.add(check_sets_meet(db, queries, args.get("codes"), args.get("query-codes")));
    notes.print();
    const std::string name = db.source.empty() ? "encoded sets" : db.source;
    const ProtocolResult r = evaluate_encoded(db, queries, protocol_for(db, queries, name), threads);
    const std::vector<ResultRecord> records = {result_record("deephash (ours)", name, db.codes.bits(), r.scores, 0, r.seconds)};
    std::printf("%s: %zu queries against %zu database images\n%s\n\n", r.protocol.name.c_str(), queries.codes.size(),
                db.codes.size(), r.protocol.description.c_str());
    print_record(records.front());
    std::printf("\n%s\n", results_table(records).c_str());
    for (const std::string& f : write_reports(records, out, name)) std::printf("wrote %s\n", f.c_str());
    if (!db.paths.empty() && !queries.paths.empty()) {
      write_example_grid(grid, db, queries);
      std::printf("wrote %s\n", grid.c_str());
    }
    return 0;
  }

  const RetrievalSets sets = sets_from(args);
  print_sets(sets);
  std::vector<ResultRecord> records;
  std::vector<int> bits;
  std::stringstream models(args.required("model"));
  std::string path;
  for (bool first = true; std::getline(models, path, ','); first = false) {
    HashingModel model = load_model(path);
    if (args.has("tta")) nn::set_test_augmentation(model.frontend, args.get("tta"), "--tta");
    const ModelEvaluation e = evaluate_model(std::move(model), sets, "deephash (ours)", 0, threads);
    records.push_back(e.record);
    bits.push_back(e.record.bits);
    print_record(e.record);
    if (first) write_example_grid(grid, e.database, e.queries);
  }
  if (args.get("baselines") != "none") {
    const auto more = run_baselines(sets, args.get_int_list("baselines", bits), args.has("euclidean"), pool);
    records.insert(records.end(), more.begin(), more.end());
  }
  report(records, sets, out);
  std::printf("wrote %s\n", grid.c_str());
  return 0;
}

}  // namespace deephash::cli
