// deephash encode: codes (and optionally rerank features) of a dataset split.

#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "encoding.hpp"

namespace deephash::cli {

int command_encode(int argc, char** argv) {
  const Args args("deephash encode", argc, argv, 2);
  if (args.help()) {
    std::printf(
        "usage: deephash encode --model MODEL --dataset SPEC --out CODES [options]\n\n"
        "Runs the model over a split of the dataset and writes the codes with labels, class names and\n"
        "image paths (and with --features the rerank features) to an encoded-set file (.dhc).\n\noptions:\n"
        "  --split S             database (default) or queries\n"
        "  --features            also store the rerank features (fc7 / fc1)\n"
        "  --queries-per-class N for single-split datasets (default 100)\n"
        "  --threads N\n\ndatasets:\n%s",
        kDatasetHelp);
    return 0;
  }
  args.allow_only({"model", "dataset", "out", "split", "features", "queries-per-class", "threads"});
  const std::string which = args.get("split", "database");
  if (which != "database" && which != "queries") throw Error("deephash encode", "--split must be database or queries");
  const HashingModel model = load_model(args.required("model"));
  auto frontend = model.make_frontend(unsigned(args.get_int("threads", long(default_num_threads()))), args.get("model"));
  const RetrievalSplit split = load_retrieval_split(args.required("dataset"), std::size_t(args.get_int("queries-per-class", 100)));
  const EncodedSet s = encode_split(*frontend, which == "database" ? split.database : split.queries, split.name, which,
                                    args.has("features"));
  save_encoded_set(s, args.required("out"));
  std::printf("wrote %s: %zu %d-bit codes%s\n", args.get("out").c_str(), s.codes.size(), s.codes.bits(),
              s.features.size() ? ", with features" : "");
  return 0;
}

}  // namespace deephash::cli
