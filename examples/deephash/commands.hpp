#pragma once
// The subcommands of the deephash command; each gets the whole argv (argv[1] is its name).

namespace deephash::cli {

int command_baselines(int argc, char** argv);

}  // namespace deephash::cli
