#pragma once
// The subcommands of the deephash command; each gets the whole argv (argv[1] is its name).

namespace deephash::cli {

int command_demo(int argc, char** argv);
int command_train(int argc, char** argv);
int command_encode(int argc, char** argv);
int command_index(int argc, char** argv);
int command_search(int argc, char** argv);
int command_eval(int argc, char** argv);
int command_baselines(int argc, char** argv);

}  // namespace deephash::cli
