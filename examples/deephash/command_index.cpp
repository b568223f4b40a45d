// deephash index: a Hamming index file from encoded codes.

#include <cstdio>

#include <deephash/io/container/index_file.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "encoding.hpp"

namespace deephash::cli {

int command_index(int argc, char** argv) {
  const Args args("deephash index", argc, argv, 2);
  if (args.help()) {
    std::printf(
        "usage: deephash index --codes CODES --out INDEX\n\n"
        "Builds a Hamming index file (.dhx: checksummed, written atomically) from an encoded set made\n"
        "by `deephash encode`. Ids in the index are positions in the encoded set.\n");
    return 0;
  }
  args.allow_only({"codes", "out"});
  const EncodedSet s = load_encoded_set(args.required("codes"));
  HammingIndex index(s.codes.bits());
  index.add(s.codes);
  save_index(index, args.required("out"));
  std::printf("wrote %s: %ld codes of %d bits\n", args.get("out").c_str(), long(index.size()), index.bits());
  return 0;
}

}  // namespace deephash::cli
