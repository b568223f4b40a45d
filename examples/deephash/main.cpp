// deephash: deep hashing for image retrieval from the command line.

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <deephash/core/error.hpp>

#include "commands.hpp"
#include "job.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**, deephash::cli::Job&);
  const char* summary;
  bool runs_as_job;  // under mpirun -np N: each rank does its part (job.hpp)
};

const Command kCommands[] = {
    {"demo", deephash::cli::command_demo, "the main job: train on Fashion-MNIST, evaluate, compare with LSH and ITQ", false},
    {"train", deephash::cli::command_train, "train a hashing model on labelled images (data-parallel under mpirun)", true},
    {"encode", deephash::cli::command_encode, "codes (and rerank features) of a dataset split (sharded under mpirun)", true},
    {"index", deephash::cli::command_index, "a Hamming index file from encoded codes", false},
    {"search", deephash::cli::command_search, "the nearest images of a query image (and a picture of them)", false},
    {"eval", deephash::cli::command_eval, "models against LSH and ITQ: the paper's table, results.json, plots (a sharded\n             database under mpirun)", true},
    {"baselines", deephash::cli::command_baselines, "LSH and ITQ on raw pixels, and the Euclidean reference", false},
};

void usage() {
  std::printf("usage: deephash <command> [options]   (deephash <command> --help for details)\n\ncommands:\n");
  for (const Command& c : kCommands) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf("\nthe ranking metric everywhere is mAP@1000 as the paper defines it (AP divided by the\n"
              "relevant items in the top 1000; ties in Hamming distance keep database order)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands)
    if (argv[1] == std::string(c.name)) {
      deephash::cli::Job job(argc, argv);
      try {
        job.check_runs_as_job(c.name, c.runs_as_job);
        return c.run(argc, argv, job);
      } catch (const deephash::Error& e) {
        return job.fail(c.name, e);
      } catch (const std::exception& e) {
        return job.fail(c.name, deephash::Error("", e.what()));
      }
    }
  std::fprintf(stderr, "deephash: unknown command '%s'\n\n", argv[1]);
  usage();
  return 2;
}
