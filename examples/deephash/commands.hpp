#pragma once
// The subcommands of the deephash command; each gets the whole argv (argv[1] is its name) and
// the job it runs in (one process, or a rank of mpirun -np N: job.hpp).

#include "job.hpp"

namespace deephash::cli {

int command_demo(int argc, char** argv, Job& job);
int command_train(int argc, char** argv, Job& job);
int command_encode(int argc, char** argv, Job& job);
int command_index(int argc, char** argv, Job& job);
int command_search(int argc, char** argv, Job& job);
int command_eval(int argc, char** argv, Job& job);
int command_baselines(int argc, char** argv, Job& job);

}  // namespace deephash::cli
