// deephash: deep hashing for image retrieval from the command line.

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <deephash/core/error.hpp>

#include "commands.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"demo", deephash::cli::command_demo, "the main job: train on Fashion-MNIST, evaluate, compare with LSH and ITQ"},
    {"train", deephash::cli::command_train, "train a hashing model on labelled images"},
    {"encode", deephash::cli::command_encode, "codes (and rerank features) of a dataset split"},
    {"index", deephash::cli::command_index, "a Hamming index file from encoded codes"},
    {"search", deephash::cli::command_search, "the nearest images of a query image (and a picture of them)"},
    {"eval", deephash::cli::command_eval, "models against LSH and ITQ: the paper's table, results.json, plots"},
    {"baselines", deephash::cli::command_baselines, "LSH and ITQ on raw pixels, and the Euclidean reference"},
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
      try {
        return c.run(argc, argv);
      } catch (const deephash::Error& e) {
        std::fprintf(stderr, "\ndeephash %s: error: %s\n", c.name, e.what());
        return 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "\ndeephash %s: error: %s\n", c.name, e.what());
        return 1;
      }
    }
  std::fprintf(stderr, "deephash: unknown command '%s'\n\n", argv[1]);
  usage();
  return 2;
}
