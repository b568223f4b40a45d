// deephash encode: the codes (and rerank features) of a set of images, streamed to a file.

#include <cstdio>

#ifdef DEEPHASH_WITH_MPI
#include <deephash/mpi/sharded_encode.hpp>
#endif

#include "command.hpp"
#include "commands.hpp"
#include "report.hpp"

namespace deephash::cli {

int command_encode(int argc, char** argv, Job& job) {
  Options options = image_set_options();
  options.insert(options.end(), {{"role", "R", "with --dataset: database (default) or queries"},
                                 {"images", "SPEC", "every image of a set, e.g. a folder of photos to search"},
                                 {"model", "MODEL", "the model to encode with"},
                                 {"out", "CODES", "the encoded-set file to write (.dhc)"},
                                 {"features", "", "also store the rerank features (fc7 / fc1)"},
                                 {"batch", "N", "images per network pass (default 64)"},
                                 {"decode-threads", "N", "threads decoding images ahead of the network (default 1)"},
                                 {"skip-unreadable", "", "leave out images that cannot be read, and list them (else: fail, naming them all)"},
                                 threads_option()});
  const CommandSpec spec{"encode", "--model MODEL (--dataset SPEC [--role R] | --database SPEC | --queries SPEC | --images SPEC) --out CODES",
                         "Runs the model over a set of images and writes their codes, labels, class names, where each\n"
                         "image is (read back by `search --grid`), where the set came from and the hold-out rule that\n"
                         "chose it (and with --features the rerank features) to an encoded-set file. Images are decoded\n"
                         "ahead of the network and codes are written in chunks: memory does not grow with the set.\n\n"
                         "Under mpirun -np N, rank r encodes the r-th of N equal slices into CODES.part-r-of-N and\n"
                         "CODES becomes their manifest (read back by every command as the whole set).",
                         {options},
                         true};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const HashingModel model = load_model(args.required("model"));
  auto frontend = model.make_frontend(threads_from(args), args.get("model"));

  std::shared_ptr<const ImageSource> images;
  Provenance provenance;
  if (args.has("images")) {
    images = open_image_source(args.get("images"));
    provenance = {args.get("images"), "all", ""};
  } else if (args.has("queries") && !args.has("database") && !args.has("dataset")) {
    images = open_image_source(args.get("queries"));
    provenance = {args.get("queries"), "queries", ""};
  } else {
    const RetrievalSets sets = sets_from(args);
    const std::string role = args.get("role", "database");
    if (role != "database" && role != "queries") throw Error("--role " + role, "must be database or queries");
    if (args.has("queries") && args.has("database") && !args.has("role"))
      throw Error("deephash encode", "--database and --queries: say which to encode with --role");
    images = role == "database" ? sets.database : sets.queries;
    provenance = role == "database" ? sets.database_provenance() : sets.queries_provenance();
  }
  EncodeOptions o;
  o.with_features = args.has("features");
  o.batch = std::size_t(args.get_int("batch", 64));
  o.decode_workers = unsigned(args.get_int("decode-threads", 1));
  o.label = "encode " + provenance.role;
  o.model_digest = model_digest(model);
  o.skip_unreadable = args.has("skip-unreadable");
  const auto start = std::chrono::steady_clock::now();
  if (job.sharded()) {
#ifdef DEEPHASH_WITH_MPI
    const auto mine = mpi::encode_sharded(job.communicator(), *frontend, images, provenance, args.get("out"), o);
    const double seconds = seconds_since(start);
    std::printf("rank %d of %d: wrote %s: items %zu..%zu (%.1f s, %.0f images/s)\n", job.rank(), job.size(), mine.shard.c_str(),
                mine.first, mine.first + mine.count, seconds, double(mine.count) / seconds);
    std::fflush(stdout);
    job.communicator().barrier();  // the manifest line last
    if (job.leads())
      std::printf("wrote %s: the manifest of %d shards, %zu %d-bit codes%s (%.1f s, %.0f images/s)\n", args.get("out").c_str(),
                  job.size(), images->size(), frontend->code_bits(), o.with_features ? ", with features" : "", seconds_since(start),
                  double(images->size()) / seconds_since(start));
#endif
    return 0;
  }
  const std::vector<UnreadableItem> skipped = encode_source_to_file(*frontend, *images, provenance, args.required("out"), o);
  const double seconds = seconds_since(start);
  const std::size_t encoded = images->size() - skipped.size();
  std::printf("wrote %s: %zu %d-bit codes%s (%.1f s, %.0f images/s)\n", args.get("out").c_str(), encoded, frontend->code_bits(),
              o.with_features ? ", with features" : "", seconds, double(encoded) / seconds);
  if (!skipped.empty()) std::printf("skipped %s\n", describe_unreadable_items(skipped).c_str());
  return 0;
}

}  // namespace deephash::cli
