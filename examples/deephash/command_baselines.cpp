// deephash baselines: the unsupervised rows of the paper's table (LSH, ITQ on raw pixels) and the
// Euclidean reference, under the mAP@1000 protocol.

#include <cstdio>

#include "command.hpp"
#include "commands.hpp"
#include "report.hpp"

namespace deephash::cli {

int command_baselines(int argc, char** argv, Job&) {
  Options options = image_set_options();
  options.insert(options.end(), {{"bits", "LIST", "code lengths (default 12,32,48)"},
                                 {"no-euclidean", "", "skip the Euclidean reference"},
                                 {"out", "DIR", "where reports go (default deephash-out)"},
                                 threads_option()});
  const CommandSpec spec{"baselines", "[options]",
                         "Hashes raw pixels with LSH and ITQ at each code length, ranks the database by Hamming\n"
                         "distance for every query, and reports mAP@1000 (the paper's normalisation) and precision@k;\n"
                         "also exact Euclidean ranking on raw pixels as a reference. Prints the table and writes\n"
                         "results.json and precision@k plots (SVG) to --out. Needs every image's pixels in memory.",
                         {options},
                         true};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  ThreadPool pool(threads_from(args));
  const RetrievalSets sets = sets_from(args, {}, "fashion-mnist");
  print_sets(sets);
  const std::vector<ResultRecord> records =
      run_baselines(sets, args.get_int_list("bits", {12, 32, 48}), !args.has("no-euclidean"), pool);
  report(records, sets, args.get("out", "deephash-out"));
  return 0;
}

}  // namespace deephash::cli
