// deephash index: a Hamming index file from encoded codes, deephash's own or FAISS's.

#include <cstdio>
#include <string>

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/io/faiss/binary_index_file.hpp>
#include <deephash/io/id_list.hpp>

#include "command.hpp"
#include "commands.hpp"

namespace deephash::cli {

int command_index(int argc, char** argv) {
  const CommandSpec spec{
      "index", "--codes CODES --out INDEX [--format deephash|faiss] [--ids FILE]",
      "Builds a Hamming index file from an encoded set made by `deephash encode`: deephash's own (.dhx:\n"
      "checksummed, written atomically; ids are positions in the encoded set), or FAISS's binary index\n"
      "file, which FAISS, Milvus and OpenSearch load (IndexBinaryFlat, or IndexBinaryIDMap2 with --ids;\n"
      "codes whose length is not a multiple of 8 are padded with zero bits, which keeps every distance).",
      {{{"codes", "CODES", "the encoded set"},
        {"out", "INDEX", "the index file to write"},
        {"format", "NAME", "deephash (default; faiss when INDEX ends in .faiss) or faiss"},
        {"ids", "FILE", "a 64-bit id per line, one per code, in the encoded set's order (faiss format)"}}}};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const std::string out = args.required("out");
  const bool faiss_name = out.size() > 6 && out.compare(out.size() - 6, 6, ".faiss") == 0;
  const std::string format = args.get("format", faiss_name ? "faiss" : "deephash");
  if (format != "deephash" && format != "faiss") throw Error("--format " + format, "unknown; the formats are deephash and faiss");
  if (format == "deephash" && args.has("ids"))
    throw Error("--ids", "deephash's own index files number codes by position; ids go in a FAISS file (--format faiss)");

  const EncodedSet s = load_encoded_set(args.required("codes"));
  if (format == "faiss") {
    FaissBinaryIndex index{FaissBinaryKind::Flat, s.codes, {}};
    if (args.has("ids")) {
      index.kind = FaissBinaryKind::IDMap2;
      index.ids = read_id_list(args.get("ids"), s.codes.size());
    }
    write_faiss_binary_index(index, out);
    std::printf("wrote %s: FAISS %s, %zu codes of %d bits%s\n", out.c_str(),
                args.has("ids") ? "IndexBinaryIDMap2" : "IndexBinaryFlat", s.codes.size(), s.codes.bits(),
                s.codes.bits() % 8 ? (" (stored as " + std::to_string(8 * faiss_code_size(s.codes.bits())) + ")").c_str() : "");
    return 0;
  }
  HammingIndex index(s.codes.bits());
  index.add(s.codes);
  save_index(index, out);
  std::printf("wrote %s: %ld codes of %d bits\n", out.c_str(), long(index.size()), index.bits());
  return 0;
}

}  // namespace deephash::cli
