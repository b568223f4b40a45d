// deephash index: a Hamming index file from encoded codes, deephash's own or FAISS's.

#include <cstdio>
#include <memory>
#include <string>

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/io/faiss/binary_index_file.hpp>
#include <deephash/io/id_list.hpp>

#include "command.hpp"
#include "commands.hpp"

namespace deephash::cli {

int command_index(int argc, char** argv, Job&) {
  const CommandSpec spec{
      "index", "--codes CODES --out INDEX [--kind flat|mih [--tables M]] [--format deephash|faiss] [--ids FILE]\n"
               "       deephash index --verify INDEX",
      "Builds a Hamming index file from an encoded set made by `deephash encode`: deephash's own (.dhx:\n"
      "checksummed, written atomically), the flat scan or multi-index hashing (exact, the same results,\n"
      "sub-linear when neighbours are near); or FAISS's binary index file, which FAISS, Milvus and\n"
      "OpenSearch load (IndexBinaryFlat, or IndexBinaryIDMap2 with --ids; codes whose length is not a\n"
      "multiple of 8 are padded with zero bits, which keeps every distance). Ids are positions in the\n"
      "encoded set unless --ids gives them. deephash index files are written in a layout that `deephash\n"
      "search` maps into memory rather than reads (it opens at once, and processes share its pages);\n"
      "chunks are checked against their checksums as they are first read, or all at once with --verify.",
      {{{"codes", "CODES", "the encoded set"},
        {"out", "INDEX", "the index file to write"},
        {"kind", "NAME", "flat (default) or mih (multi-index hashing; deephash format)"},
        {"tables", "M", "mih: substrings per code (default: from the number of codes and bits)"},
        {"format", "NAME", "deephash (default; faiss when INDEX ends in .faiss) or faiss"},
        {"ids", "FILE", "a 64-bit id per line, one per code, in the encoded set's order"},
        {"verify", "INDEX", "check every checksum of a deephash index file and say what it holds"}}}};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  if (args.has("verify")) {
    const std::string path = args.get("verify");
    const IndexFileSummary s = verify_index_file(path);
    std::printf("%s: ok, %s index (file version %u, %s layout), %ld codes of %d bits, %s\n", path.c_str(),
                s.kind.c_str(), unsigned(s.version), s.mappable ? "mappable" : "compact", long(s.size), s.bits,
                s.ids ? "ids of its own" : "ids 0 to n - 1");
    return 0;
  }
  const std::string out = args.required("out");
  const bool faiss_name = out.size() > 6 && out.compare(out.size() - 6, 6, ".faiss") == 0;
  const std::string format = args.get("format", faiss_name ? "faiss" : "deephash");
  if (format != "deephash" && format != "faiss") throw Error("--format " + format, "unknown; the formats are deephash and faiss");
  const std::string kind = args.get("kind", "flat");
  if (kind != "flat" && kind != "mih") throw Error("--kind " + kind, "unknown; the kinds are flat and mih");
  if (format == "faiss" && kind != "flat") throw Error("--kind " + kind, "FAISS files hold flat indexes; use --format deephash");
  if (args.has("tables") && kind != "mih") throw Error("--tables", "is for --kind mih");

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
  std::unique_ptr<BinaryIndex> index;
  if (kind == "mih") index = std::make_unique<MultiIndexHashing>(s.codes.bits(), int(args.get_int("tables", 0)));
  else index = std::make_unique<HammingIndex>(s.codes.bits());
  if (args.has("ids")) index->add_with_ids(s.codes, read_id_list(args.get("ids"), s.codes.size()));
  else index->add(s.codes);
  index->save(out);
  std::printf("wrote %s: %s index, %ld codes of %d bits", out.c_str(), kind.c_str(), long(index->size()), index->bits());
  if (auto* mih = dynamic_cast<MultiIndexHashing*>(index.get())) {
    mih->rebuild();  // as loading it will: tables over every code
    std::printf(", %d tables", mih->tables());
  }
  std::printf(", %.1f MB in memory\n", double(index->memory_bytes()) / 1e6);
  return 0;
}

}  // namespace deephash::cli
