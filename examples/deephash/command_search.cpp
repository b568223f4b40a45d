// deephash search: the nearest images of one query image.

#include <cstdio>
#include <map>

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/io/id_list.hpp>
#include <deephash/search/coarse_to_fine.hpp>

#include "command.hpp"
#include "commands.hpp"
#include "report.hpp"

namespace deephash::cli {

namespace {

// The query: its code (and features), label when known, image and name.
struct Query {
  EncodedImages encoded;
  int label = -1;
  Image image;
  std::string name;
};

Query encode_query_image(Frontend& frontend, Image image, int label, std::string name, bool with_features) {
  Query q;
  q.image = std::move(image);
  q.encoded = encode_images(frontend, ImageBatchView::single(q.image), with_features, 1, "encode", false);
  q.label = label;
  q.name = std::move(name);
  return q;
}

}  // namespace

int command_search(int argc, char** argv, Job&) {
  const CommandSpec spec{
      "search", "--model MODEL --codes CODES (--image FILE | --query N (--dataset SPEC | --queries SPEC | --query-codes CODES)) [options]",
      "Encodes the query image with the model, ranks the encoded database (from `deephash encode`) by\n"
      "Hamming distance and prints the top k: rank, id, label, Hamming distance, rerank distance, where\n"
      "the image is. With --rerank P the P nearest codes are re-ranked by Euclidean distance on the\n"
      "model's features (the paper's coarse-to-fine search; the database must have been encoded with\n"
      "--features). --grid draws the query and its results, read back from where they were encoded.",
      {{{"model", "MODEL", "the model the database was encoded with"},
        {"codes", "CODES", "the encoded database"},
        {"image", "FILE", "a JPEG, PNG or BMP query"},
        {"query", "N", "the N-th query image of --dataset / --queries, or of --query-codes"},
        {"dataset", "SPEC", "the collection whose database --codes holds (checked), for --query N"},
        {"queries", "SPEC", "query images named apart, for --query N"},
        {"query-codes", "CODES", "an encoded query set, for --query N (no re-encoding)"},
        {"queries-per-class", "N", "the hold-out rule --codes was encoded with (default 1000)"},
        {"index", "INDEX", "a prebuilt index of the database (`deephash index`, flat or mih); else a flat one in memory"},
        {"ids", "FILE", "the ids file the index was built with, when it was (to find each result's image)"},
        {"k", "N", "results to show (default 10)"},
        {"rerank", "P", "candidate pool for the Euclidean rerank (default 0: Hamming only)"},
        {"grid", "FILE.png", "draw the query and its results (green: same label, red: not)"}}},
      true};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const idx_t k = idx_t(args.get_int("k", 10));
  const idx_t pool = idx_t(args.get_int("rerank", 0));
  if (k <= 0) throw Error("deephash search", "--k must be positive");
  if (pool < 0) throw Error("deephash search", "--rerank must not be negative");
  const HashingModel model = load_model(args.required("model"));
  auto frontend = model.make_frontend(default_num_threads(), args.get("model"));
  const std::string db_path = args.required("codes");
  const EncodedSet db = load_encoded_set(db_path);
  check_same_bits(db.codes.bits(), frontend->code_bits(), db_path + " vs " + args.get("model"));
  // The database must be the model's codes, and the query of the same kind (workflow/evaluation.hpp).
  const std::string digest = model_digest(model);
  Notes notes;
  notes.add(check_made_by(db, digest, db_path, args.get("model")));
  const int channels = frontend->decode_options().channels;

  Query q;
  if (args.has("image")) {
    q = encode_query_image(*frontend, read_image(args.get("image"), channels), -1, args.get("image"), pool > 0);
  } else if (args.has("query")) {
    const long n = args.get_int("query", 0);
    if (args.has("query-codes")) {
      const EncodedSet qs = load_encoded_set(args.get("query-codes"));
      notes.add(check_sets_meet(db, qs, db_path, args.get("query-codes")));
      if (n < 0 || std::size_t(n) >= qs.codes.size())
        throw Error("--query " + std::to_string(n), "is out of range: " + args.get("query-codes") + " holds " +
                                                        std::to_string(qs.codes.size()) + " queries");
      if (pool > 0 && qs.features.size() == 0) throw Error(args.get("query-codes"), "has no features for --rerank; encode it with --features");
      q.encoded.codes = qs.codes.slice(std::size_t(n), std::size_t(n) + 1);
      if (pool > 0) q.encoded.features = qs.features.row(Eigen::Index(n));
      q.label = qs.labels[std::size_t(n)];
      q.name = qs.paths.empty() ? "query " + std::to_string(n) : qs.paths[std::size_t(n)];
      if (args.has("grid") && !qs.paths.empty()) q.image = read_image_at(qs.paths[std::size_t(n)], 3);
    } else {
      std::shared_ptr<const ImageSource> queries;
      if (args.has("dataset")) {
        const RetrievalSets sets = open_retrieval_sets(args.get("dataset"), holdout_from(args));
        notes.add(check_database_of(db, sets, digest, db_path));
        queries = sets.queries;
      } else if (args.has("queries")) {
        queries = open_image_source(args.get("queries"));
        notes.add(check_sets_meet(db, describe_encoded_set(*queries, {args.get("queries"), "queries", ""}, db.codes.bits(), digest),
                                  db_path, "the queries of " + args.get("queries")));
      } else {
        throw Error("deephash search", "--query N needs --dataset SPEC, --queries SPEC or --query-codes CODES");
      }
      if (n < 0 || std::size_t(n) >= queries->size())
        throw Error("--query " + std::to_string(n), "is out of range: " + queries->spec() + " has " +
                                                        std::to_string(queries->size()) + " query images");
      q = encode_query_image(*frontend, queries->reader()->read(std::size_t(n), channels), queries->label(std::size_t(n)),
                             queries->locator(std::size_t(n)), pool > 0);
    }
  } else {
    throw Error("deephash search", "give a query: --image FILE, or --query N with --dataset, --queries or --query-codes");
  }

  // Mapped, not read: a large index opens at once, and only what a search touches is checked. A
  // FAISS file (read) stores whole bytes: its codes are taken at the database's length.
  std::unique_ptr<BinaryIndex> loaded =
      args.has("index") ? map_index(args.get("index"), default_num_threads(), Verification::on_first_use, db.codes.bits()) : nullptr;
  if (!loaded) {
    loaded = std::make_unique<HammingIndex>(db.codes.bits());
    loaded->add(db.codes);
  }
  notes.print();
  const BinaryIndex& index = *loaded;
  if (std::size_t(index.size()) != db.codes.size())
    throw Error(args.get("index"), "holds " + std::to_string(index.size()) + " codes but " + db_path + " has " +
                                       std::to_string(db.codes.size()));
  // At most every code of the database: a huge --k must not allocate for results that cannot exist.
  const idx_t shown = std::min(k, idx_t(index.size()));
  // Results come back as ids; the encoded set is read by row.
  std::map<idx_t, std::size_t> row_of_id;
  if (index.next_id() != index.size()) {
    if (!args.has("ids"))
      throw Error(args.get("index"), "numbers its codes with ids of its own: give the ids file it was built with (--ids FILE)");
    if (pool > 0) throw Error("--rerank", "needs an index numbered by row (built without --ids)");
    const std::vector<idx_t> ids = read_id_list(args.get("ids"), db.codes.size());
    for (std::size_t row = 0; row < ids.size(); ++row) {
      if (!index.contains(ids[row]))
        throw Error(args.get("ids"), "id " + std::to_string(ids[row]) + " (line " + std::to_string(row + 1) + ") is not in " + args.get("index"));
      row_of_id[ids[row]] = row;
    }
  }
  auto row = [&](idx_t id) { return row_of_id.empty() ? std::size_t(id) : row_of_id.at(id); };

  std::vector<idx_t> ids;
  std::vector<int> hamming;
  std::vector<float> euclidean;
  if (pool > 0) {
    if (db.features.size() == 0) throw Error(db_path, "has no features for --rerank; encode it with --features");
    const RerankedResult r = coarse_to_fine_search(index, db.features, q.encoded.codes, q.encoded.features, CandidatePool::top(pool), shown);
    ids = r.labels;
    hamming = r.hamming;
    euclidean = r.euclidean;
  } else {
    const KnnResult r = index.search(q.encoded.codes, shown);
    ids = r.labels;
    hamming = r.distances;
  }

  auto label_name = [&](int l) {
    return l >= 0 && std::size_t(l) < db.class_names.size() ? db.class_names[std::size_t(l)] : std::to_string(l);
  };
  std::printf("query: %s%s\n\n%4s  %8s  %-14s  %7s  %9s  %s\n", q.name.c_str(), q.label >= 0 ? (" (" + label_name(q.label) + ")").c_str() : "",
              "rank", "id", "label", "hamming", pool > 0 ? "euclidean" : "", "image");
  std::vector<std::string> found;
  std::vector<Match> matches;
  for (std::size_t r = 0; r < ids.size() && ids[r] >= 0; ++r) {
    const int label = db.labels[row(ids[r])];
    char dist[32] = "";
    if (pool > 0) std::snprintf(dist, sizeof dist, "%9.3f", double(euclidean[r]));
    const std::string where = db.paths.empty() ? "" : db.paths[row(ids[r])];
    std::printf("%4zu  %8ld  %-14s  %7d  %9s  %s\n", r + 1, long(ids[r]), label_name(label).c_str(), hamming[r], dist, where.c_str());
    found.push_back(where);
    matches.push_back(q.label < 0 ? Match::Unknown : label == q.label ? Match::Relevant : Match::Irrelevant);
  }
  if (args.has("grid")) {
    if (db.paths.empty()) throw Error(db_path, "does not say where its images are (an encoded set of an older version): no grid");
    if (q.image.pixels.empty()) throw Error(args.get("query-codes"), "does not say where its images are: no grid");
    const std::vector<Image> images = read_images_at(found, 3);
    write_png(args.get("grid"), retrieval_grid(q.image, std::vector<ImageView>(images.begin(), images.end()), matches));
    std::printf("\nwrote %s\n", args.get("grid").c_str());
  }
  return 0;
}

}  // namespace deephash::cli
