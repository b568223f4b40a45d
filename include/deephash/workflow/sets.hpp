#pragma once
// From what a user names to the image sets of a retrieval experiment. A SPEC names a collection
// and, after '@', one of its sets:
//
//   fashion-mnist[:DIR][@train|@test]  Fashion-MNIST's IDX files (default DIR: Debian's
//                                      dataset-fashion-mnist)
//   mnist:DIR[@train|@test]            MNIST, the same layout
//   cifar10:DIR[@train|@test]          CIFAR-10 binary batches (data_batch_1..5, test_batch)
//   folder:DIR[@SET]                   DIR/<class>/<image>, or DIR/<set>/<class>/<image>
//   archive:FILE[@SET]                 the same inside a .tar or .tar.gz
//   list:FILE[:ROOT]                   a Caffe list file ("path label" a line), paths under ROOT
//
// A collection with two sets — train and test (or database and queries) — gives the database
// and the queries as they are. A collection of one set gives both by the hold-out rule of
// workflow/holdout.hpp, the same in every program. A validation set, when asked for, is carved
// from the database by the same rule and never touches the queries.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/data/idx.hpp"
#include "deephash/data/sources/archive_source.hpp"
#include "deephash/data/sources/cifar_source.hpp"
#include "deephash/data/sources/folder_source.hpp"
#include "deephash/data/sources/idx_source.hpp"
#include "deephash/data/sources/list_source.hpp"
#include "deephash/data/subset_source.hpp"
#include "deephash/workflow/encoding.hpp"
#include "deephash/workflow/holdout.hpp"

namespace deephash {

inline const char* kImageSpecHelp =
    "  fashion-mnist[:DIR][@train|@test]  Fashion-MNIST (default DIR: Debian's dataset-fashion-mnist):\n"
    "                                     60,000 train images = database, 10,000 test = queries\n"
    "  mnist:DIR[@train|@test]            MNIST, the same way\n"
    "  cifar10:DIR[@train|@test]          CIFAR-10 binary batches: data_batch_1..5 and test_batch\n"
    "  folder:DIR[@SET]                   DIR/<class>/<image>; or DIR/train/<class>/... and\n"
    "                                     DIR/test/<class>/... (database and queries)\n"
    "  archive:FILE[@SET]                 the same inside a .tar or .tar.gz\n"
    "  list:FILE[:ROOT]                   a Caffe list file (\"path label\" a line)\n"
    "  A collection of one set gives queries by the hold-out rule (--queries-per-class, evenly\n"
    "  spaced within each class); --database SPEC --queries SPEC name the two sets apart.\n";

struct SourceOptions {
  // Training shuffles over the whole collection: a .tar.gz then keeps its encoded members in
  // memory (JPEG bytes, not pixels) to be read in any order. Encoding streams it instead.
  bool random_access = false;
};

// A parsed SPEC.
struct ImageSpec {
  std::string kind, path, extra, set;  // extra: list's ROOT
  std::string text;                    // as given
};

inline ImageSpec parse_image_spec(const std::string& text) {
  ImageSpec s;
  s.text = text;
  std::string rest = text;
  // A set name has no '/': an '@' inside a path ("/data/a@b/x.tar") is part of the path.
  const auto at = rest.rfind('@');
  if (at != std::string::npos && rest.find('/', at) == std::string::npos) {
    s.set = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (s.set.empty()) throw Error(text, "nothing after '@': name a set, e.g. @train");
  }
  const auto colon = rest.find(':');
  s.kind = rest.substr(0, colon);
  s.path = colon == std::string::npos ? "" : rest.substr(colon + 1);
  if (s.kind == "list") {
    const auto sep = s.path.find(':');
    if (sep != std::string::npos) {
      s.extra = s.path.substr(sep + 1);
      s.path = s.path.substr(0, sep);
    }
    if (!s.set.empty()) throw Error(text, "a list file holds one set: nothing follows '@'");
  }
  if (s.kind == "fashion-mnist" && s.path.empty()) s.path = default_fashion_mnist_dir();
  static const char* kinds[] = {"fashion-mnist", "mnist", "cifar10", "folder", "archive", "list"};
  if (std::find(std::begin(kinds), std::end(kinds), s.kind) == std::end(kinds))
    throw Error(text, "unknown kind '" + s.kind + "'; one of:\n" + kImageSpecHelp);
  if (s.path.empty()) throw Error(text, "'" + s.kind + "' needs a path: " + s.kind + ":PATH");
  return s;
}

// The sets a collection holds: {train, test} for IDX and CIFAR, the top-level folders holding
// class folders for a folder or archive (none when the classes are at the top), none for a list.
inline std::vector<std::string> image_sets(const ImageSpec& s) {
  if (s.kind == "fashion-mnist" || s.kind == "mnist" || s.kind == "cifar10") return {"train", "test"};
  if (s.kind == "folder" || s.kind == "archive") return list_class_sets(s.path);
  return {};
}

// One set of a collection as a source. A collection with several sets needs one named.
inline std::shared_ptr<const ImageSource> open_image_source(const std::string& text, const SourceOptions& options = {}) {
  const ImageSpec s = parse_image_spec(text);
  const std::vector<std::string> sets = image_sets(s);
  if (s.set.empty() && sets.size() > 1) {
    std::string names;
    for (const auto& n : sets) names += (names.empty() ? "" : ", ") + text + "@" + n;
    throw Error(text, "holds several sets; name one: " + names);
  }
  if (!s.set.empty() && std::find(sets.begin(), sets.end(), s.set) == sets.end()) {
    std::string names;
    for (const auto& n : sets) names += (names.empty() ? "" : ", ") + n;
    throw Error(text, "has no set '" + s.set + "'" + (names.empty() ? std::string(" (it holds one set)") : "; it has " + names));
  }
  const std::string set = s.set.empty() && !sets.empty() ? sets.front() : s.set;
  if (s.kind == "fashion-mnist") return IdxSource::fashion_mnist(s.path, set);
  if (s.kind == "mnist") return IdxSource::mnist(s.path, set);
  if (s.kind == "cifar10") return std::make_shared<CifarSource>(s.path, set);
  if (s.kind == "folder") return std::make_shared<FolderSource>(s.path, set);
  if (s.kind == "archive") return std::make_shared<ArchiveSource>(s.path, ArchiveSourceOptions{set, options.random_access});
  return std::make_shared<ListSource>(s.path, s.extra.empty() ? "." : s.extra);
}

struct RetrievalSets {
  std::string name;  // for reports: the collection's kind, or its file name
  std::shared_ptr<const ImageSource> database, queries;
  // The database is training + validation; validation is empty unless asked for.
  std::shared_ptr<const ImageSource> training, validation;
  std::string database_spec, queries_spec;  // what each came from, as given
  // The rule that held the queries out of one set ("" when the sets were given apart): it
  // decides which images the database holds, so encoded sets record it.
  std::string holdout;

  // What an encoded set of the database or the queries records of where its images came from.
  Provenance database_provenance() const { return {database_spec, "database", holdout}; }
  Provenance queries_provenance() const { return {queries_spec, "queries", holdout}; }

  // The validation images as queries against the training images: what training choices are
  // scored on, apart from the real queries.
  RetrievalSets validation_sets() const {
    RetrievalSets v = *this;
    v.database = training;
    v.queries = validation;
    v.database_spec = v.queries_spec = database_spec;
    return v;
  }
};

namespace detail {

inline std::string collection_name(const ImageSpec& s) {
  if (s.kind == "folder" || s.kind == "archive" || s.kind == "list")
    return std::filesystem::path(s.path).filename().string();
  return s.kind;
}

inline std::shared_ptr<const ImageSource> subset(const std::shared_ptr<const ImageSource>& parent,
                                                 std::vector<std::size_t> items, const std::string& role) {
  return std::make_shared<SubsetSource>(parent, std::move(items), parent->spec() + " (" + role + ")");
}

// Splits the validation set off a database given as it is.
inline void carve_validation(RetrievalSets& r, const HoldOutRule& rule) {
  if (rule.validation_per_class == 0) {
    r.training = r.database;
    r.validation = subset(r.database, {}, "validation");
    return;
  }
  HoldOutRule only_validation = rule;
  only_validation.queries_per_class = 0;
  const HeldOutSplit split = hold_out(r.database->labels(), only_validation);
  r.training = subset(r.database, split.training, "training");
  r.validation = subset(r.database, split.validation, "validation");
}

}  // namespace detail

// --dataset SPEC: a collection that defines both sets (train and test), or one set split by the
// hold-out rule.
inline RetrievalSets open_retrieval_sets(const std::string& dataset, const HoldOutRule& rule,
                                         const SourceOptions& options = {}) {
  const ImageSpec s = parse_image_spec(dataset);
  RetrievalSets r;
  r.name = detail::collection_name(s);
  const std::vector<std::string> sets = image_sets(s);
  if (s.set.empty() && sets.size() >= 2) {
    auto has = [&](const char* n) { return std::find(sets.begin(), sets.end(), n) != sets.end(); };
    std::string db, q;
    if (has("train") && has("test")) db = "train", q = "test";
    else if (has("database") && has("queries")) db = "database", q = "queries";
    else
      throw Error(dataset, "holds several sets but not train and test: name them with --database " + dataset + "@SET --queries " +
                               dataset + "@SET");
    r.database_spec = dataset + "@" + db;
    r.queries_spec = dataset + "@" + q;
    r.database = open_image_source(r.database_spec, options);
    r.queries = open_image_source(r.queries_spec, options);
    detail::carve_validation(r, rule);
    return r;
  }
  const std::shared_ptr<const ImageSource> all = open_image_source(dataset, options);
  const HeldOutSplit split = hold_out(all->labels(), rule);
  r.database_spec = r.queries_spec = dataset;
  r.database = detail::subset(all, split.database(), "database");
  r.queries = detail::subset(all, split.queries, "queries");
  r.training = detail::subset(all, split.training, "training");
  r.validation = detail::subset(all, split.validation, "validation");
  r.holdout = rule.describe();
  return r;
}

// --database SPEC --queries SPEC: two sets named apart.
inline RetrievalSets open_retrieval_sets(const std::string& database, const std::string& queries, const HoldOutRule& rule,
                                         const SourceOptions& options = {}) {
  RetrievalSets r;
  r.name = detail::collection_name(parse_image_spec(database));
  r.database_spec = database;
  r.queries_spec = queries;
  r.database = open_image_source(database, options);
  r.queries = queries.empty() ? detail::subset(r.database, {}, "queries") : open_image_source(queries, options);
  detail::carve_validation(r, rule);
  return r;
}

}  // namespace deephash
