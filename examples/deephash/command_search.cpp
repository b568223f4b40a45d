// deephash search: the nearest images of one query image.

#include <cstdio>
#include <deque>
#include <filesystem>

#include <deephash/eval/retrieval_grid.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/search/coarse_to_fine.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "encoding.hpp"

namespace deephash::cli {

namespace {

const char* kUsage =
    "usage: deephash search --model MODEL --database CODES (--image FILE | --query N --dataset SPEC) [options]\n\n"
    "Encodes the query image with the model, ranks the encoded database (from `deephash encode`) by\n"
    "Hamming distance and prints the top k: rank, id, label, Hamming distance, rerank distance, path.\n"
    "With --rerank P the P nearest codes are re-ranked by Euclidean distance on the model's features\n"
    "(the paper's coarse-to-fine search; the database must have been encoded with --features).\n\noptions:\n"
    "  --image FILE          a JPEG or PNG query\n"
    "  --query N             the N-th query image of --dataset (its held-out / test split)\n"
    "  --dataset SPEC        also used to draw database images that have no file path (IDX, CIFAR)\n"
    "  --index INDEX         a prebuilt index of the database (`deephash index`); else built in memory\n"
    "  --k N                 results to show (default 10)\n"
    "  --rerank P            candidate pool for the Euclidean rerank (default 0: Hamming only)\n"
    "  --grid FILE.png       draw the query and its results (green: same label, red: not)\n"
    "  --queries-per-class N for single-split datasets (default 100)\n";

// Database image `id`: a view into the dataset's pixels when it is there, else read from its file
// into `files`, which owns it until the grid is drawn (a deque: adding never moves earlier images).
ImageView database_image(const EncodedSet& db, idx_t id, const RetrievalSplit* split, std::deque<Image>& files) {
  if (split && std::size_t(id) < split->database.size()) return split->database.view(std::size_t(id));
  if (!db.paths.empty() && std::filesystem::exists(db.paths[std::size_t(id)])) {
    files.push_back(read_image(db.paths[std::size_t(id)]));
    return files.back().view();
  }
  throw Error("deephash search", "cannot draw database image " + std::to_string(id) +
                                     ": it has no file path; give --dataset to read it from the dataset");
}

}  // namespace

int command_search(int argc, char** argv) {
  const Args args("deephash search", argc, argv, 2);
  if (args.help()) {
    std::printf("%s\ndatasets:\n%s", kUsage, kDatasetHelp);
    return 0;
  }
  args.allow_only({"model", "database", "image", "query", "dataset", "index", "k", "rerank", "grid", "queries-per-class"});
  const idx_t k = idx_t(args.get_int("k", 10));
  const idx_t pool = idx_t(args.get_int("rerank", 0));
  if (k <= 0) throw Error("deephash search", "--k must be positive");
  const HashingModel model = load_model(args.required("model"));
  auto frontend = model.make_frontend(default_num_threads(), args.get("model"));
  const EncodedSet db = load_encoded_set(args.required("database"));
  check_same_bits(db.codes.bits(), frontend->code_bits(), args.get("database") + " vs " + args.get("model"));

  std::unique_ptr<RetrievalSplit> split;
  if (args.has("dataset"))
    split = std::make_unique<RetrievalSplit>(load_retrieval_split(args.get("dataset"), std::size_t(args.get_int("queries-per-class", 100))));
  Image query_file;  // owns the query when it is read from --image
  ImageView query;
  int query_label = -1;
  std::string query_name;
  if (args.has("image")) {
    query_name = args.get("image");
    query_file = read_image(query_name, model.frontend.input_shape.empty() ? 3 : model.frontend.input_shape[0]);
    query = query_file.view();
  } else if (args.has("query")) {
    if (!split) throw Error("deephash search", "--query needs --dataset");
    const long q = args.get_int("query", 0);
    if (q < 0 || std::size_t(q) >= split->queries.size())
      throw Error("deephash search", "--query " + std::to_string(q) + " is out of range: the dataset has " +
                                         std::to_string(split->queries.size()) + " query images");
    query = split->queries.view(std::size_t(q));
    query_label = split->queries.labels[std::size_t(q)];
    query_name = split->name + " query " + std::to_string(q);
  } else {
    throw Error("deephash search", "give a query: --image FILE or --query N with --dataset");
  }

  const EncodedImages q = encode_images(*frontend, ImageBatchView::single(query), pool > 0, 1, "encode", false);

  HammingIndex index = args.has("index") ? load_index(args.get("index")) : HammingIndex(db.codes.bits());
  if (!args.has("index")) index.add(db.codes);
  if (std::size_t(index.size()) != db.codes.size())
    throw Error(args.get("index"), "holds " + std::to_string(index.size()) + " codes but " + args.get("database") +
                                       " has " + std::to_string(db.codes.size()));

  std::vector<idx_t> ids;
  std::vector<int> hamming;
  std::vector<float> euclidean;
  if (pool > 0) {
    if (db.features.size() == 0)
      throw Error(args.get("database"), "has no features for --rerank; encode it with --features");
    const RerankedResult r = coarse_to_fine_search(index, db.features, q.codes, q.features, CandidatePool::top(pool), k);
    ids = r.labels;
    hamming = r.hamming;
    euclidean = r.euclidean;
  } else {
    const KnnResult r = index.search(q.codes, k);
    ids = r.labels;
    hamming = r.distances;
  }

  auto label_name = [&](int l) {
    return l >= 0 && std::size_t(l) < db.class_names.size() ? db.class_names[std::size_t(l)] : std::to_string(l);
  };
  std::printf("query: %s%s\n\n%4s  %8s  %-14s  %7s  %9s  %s\n", query_name.c_str(),
              query_label >= 0 ? (" (" + label_name(query_label) + ")").c_str() : "", "rank", "id", "label", "hamming",
              pool > 0 ? "euclidean" : "", "path");
  std::vector<ImageView> images;
  std::deque<Image> image_files;
  std::vector<Match> matches;
  for (std::size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] < 0) break;
    const int label = db.labels[std::size_t(ids[r])];
    char dist[32] = "";
    if (pool > 0) std::snprintf(dist, sizeof dist, "%9.3f", double(euclidean[r]));
    std::printf("%4zu  %8ld  %-14s  %7d  %9s  %s\n", r + 1, long(ids[r]), label_name(label).c_str(), hamming[r], dist,
                db.paths.empty() ? "" : db.paths[std::size_t(ids[r])].c_str());
    if (args.has("grid")) {
      images.push_back(database_image(db, ids[r], split.get(), image_files));
      matches.push_back(query_label < 0 ? Match::Unknown : label == query_label ? Match::Relevant : Match::Irrelevant);
    }
  }
  if (args.has("grid")) {
    write_png(args.get("grid"), retrieval_grid(query, images, matches));
    std::printf("\nwrote %s\n", args.get("grid").c_str());
  }
  return 0;
}

}  // namespace deephash::cli
