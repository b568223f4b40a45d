#pragma once
// Dataset specifications accepted by every subcommand, and the database / query split they give.
//
//   fashion-mnist[:DIR]   Fashion-MNIST (IDX): 60,000 training images as database, 10,000 test
//                         images as queries. Without DIR: Debian's dataset-fashion-mnist.
//   mnist:DIR             MNIST, the same way.
//   cifar10:DIR           CIFAR-10 binary batches: data_batch_1..5 database, test_batch queries.
//   folder:DIR            one subfolder per class; queries held out per class (--queries-per-class).
//   archive:FILE          the same inside a .tar or .tar.gz archive.
//   list:FILE[:ROOT]      a Caffe list file ("path label" per line); queries held out per class.

#include <string>

#include <deephash/data/cifar10.hpp>
#include <deephash/data/idx.hpp>
#include <deephash/data/image_folder.hpp>
#include <deephash/data/image_list.hpp>

namespace deephash::cli {

struct RetrievalSplit {
  std::string name;  // for reports, e.g. "fashion-mnist"
  ImageDataset database, queries;
};

inline const char* kDatasetHelp =
    "  fashion-mnist[:DIR]  Fashion-MNIST: 60,000 train images = database, 10,000 test = queries\n"
    "                       (default DIR: Debian's dataset-fashion-mnist)\n"
    "  mnist:DIR            MNIST, the same way\n"
    "  cifar10:DIR          CIFAR-10 binary batches: data_batch_1..5 = database, test_batch = queries\n"
    "  folder:DIR           one subfolder per class; --queries-per-class held out as queries\n"
    "  archive:FILE         the same, inside a .tar or .tar.gz\n"
    "  list:FILE[:ROOT]     a Caffe list file (\"path label\" per line), queries held out likewise\n";

// The first `per_class` images of each class become queries, the rest the database.
inline RetrievalSplit hold_out_queries(std::string name, const ImageDataset& all, std::size_t per_class) {
  std::vector<std::size_t> taken(std::size_t(all.num_classes()), 0);
  std::vector<std::size_t> query_rows, database_rows;
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto& t = taken[std::size_t(all.labels[i])];
    (t < per_class ? query_rows : database_rows).push_back(i);
    ++t;
  }
  return {std::move(name), all.subset(database_rows), all.subset(query_rows)};
}

inline RetrievalSplit load_retrieval_split(const std::string& spec, std::size_t queries_per_class,
                                           const ImageLoadOptions& options = {}) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  auto need_arg = [&] {
    if (arg.empty()) throw Error("--dataset " + spec, "'" + kind + "' needs a path: " + kind + ":PATH");
  };
  if (kind == "fashion-mnist") {
    const std::string dir = arg.empty() ? default_fashion_mnist_dir() : arg;
    return {"fashion-mnist", load_fashion_mnist(dir, "train"), load_fashion_mnist(dir, "test")};
  }
  if (kind == "mnist") {
    need_arg();
    return {"mnist", load_mnist(arg, "train"), load_mnist(arg, "test")};
  }
  if (kind == "cifar10") {
    need_arg();
    return {"cifar10", load_cifar10_binary(arg, "train"), load_cifar10_binary(arg, "test")};
  }
  if (kind == "folder") {
    need_arg();
    return hold_out_queries("folder", load_image_folder(arg, options), queries_per_class);
  }
  if (kind == "archive") {
    need_arg();
    return hold_out_queries("archive", load_image_archive(arg, options), queries_per_class);
  }
  if (kind == "list") {
    need_arg();
    const auto sep = arg.find(':');
    const std::string list = arg.substr(0, sep);
    const std::string root = sep == std::string::npos ? "." : arg.substr(sep + 1);
    return hold_out_queries("list", load_image_list(list, root, options), queries_per_class);
  }
  throw Error("--dataset " + spec, "unknown dataset kind '" + kind + "'; one of:\n" + kDatasetHelp);
}

}  // namespace deephash::cli
