// deephash index: a Hamming index file from encoded codes.

#include <cstdio>

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>

#include "command.hpp"
#include "commands.hpp"

namespace deephash::cli {

int command_index(int argc, char** argv) {
  const CommandSpec spec{"index", "--codes CODES --out INDEX",
                         "Builds a Hamming index file (.dhx: checksummed, written atomically) from an encoded set made\n"
                         "by `deephash encode`. Ids in the index are positions in the encoded set.",
                         {{{"codes", "CODES", "the encoded set"}, {"out", "INDEX", "the index file to write"}}}};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const EncodedSet s = load_encoded_set(args.required("codes"));
  HammingIndex index(s.codes.bits());
  index.add(s.codes);
  save_index(index, args.required("out"));
  std::printf("wrote %s: %ld codes of %d bits\n", args.get("out").c_str(), long(index.size()), index.bits());
  return 0;
}

}  // namespace deephash::cli
