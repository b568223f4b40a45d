#pragma once
// What every subcommand shares: its options declared once, from which both --help and the check
// for unknown options come; the options that name image sets, training and threads; and the
// conversion of those options into library calls (workflow/).

#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <deephash/core/thread_pool.hpp>
#include <deephash/workflow/sets.hpp>
#include <deephash/workflow/recipe.hpp>

#include "args.hpp"

namespace deephash::cli {

struct Option {
  std::string name;   // without the leading --
  std::string value;  // what follows it in the help ("N", "FILE"); empty for a flag
  std::string help;
};
using Options = std::vector<Option>;

struct CommandSpec {
  std::string name;   // e.g. "train"
  std::string usage;  // after "deephash NAME "
  std::string about;  // a paragraph
  std::vector<Options> options;
  bool lists_image_specs = false;  // append the SPEC forms to --help
};

// The options that name image sets, by SPEC (workflow/sets.hpp).
inline Options image_set_options(bool queries_too = true) {
  Options o = {{"dataset", "SPEC", "a collection: its train and test sets, or queries held out of its one set"},
               {"database", "SPEC", "the database images, named apart"}};
  if (queries_too) o.push_back({"queries", "SPEC", "the query images, named apart"});
  o.push_back({"queries-per-class", "N", "held out of a single set, evenly spaced per class (default 1000, at most 20% of a class)"});
  o.push_back({"validation-per-class", "N", "held out of the database for validation (default 0; at most 10% of a class)"});
  return o;
}

inline Options train_options() {
  return {{"arch", "NAME", "auto (from the image size), fashion-mnist, cifar or kevinnet"},
          {"bits", "N", "code length, the latent layer's size (default 48); cifar and fashion-mnist train the\n"
                        "network with 256 latent units (or N, if more), then new hash layers of N bits and the\n"
                        "layer below them on its frozen features"},
          {"epochs", "X", "passes over the training images (default: the architecture's: 6 for fashion-mnist,\n"
                          "11 for cifar, 8 otherwise; cifar plans its own within --minutes)"},
          {"minutes", "M", "a time budget for the whole recipe on this machine: without --epochs, the network trains\n"
                           "for the epochs that fit, timed on a pilot of its steps (default: 30 for cifar, none\n"
                           "for the others; 0: none)"},
          {"batch", "N", "mini-batch size (default 64)"},
          {"lr", "X", "peak / base learning rate (default 0.1; with --prototxt 0.001, 0.01 with --freeze-below)"},
          {"lr-policy", "P", "onecycle (default), fixed, step, multistep, inv, poly"},
          {"weight-decay", "X", "(default 0.0005)"},
          {"label-smoothing", "X", "the classifier's target: 1 - X on the label, X / classes on each class\n"
                                   "(default: the architecture's, 0.2 for cifar, 0 for the others)"},
          {"mirror", "M", "training flips: random (the default), alternating (each image mirrored in every other\n"
                          "epoch), or none (for images whose mirror image means something else)"},
          {"seed", "N", "same seed and thread count, same model (default 1)"},
          {"ssdh-binarization", "X", "the SSDH binarization loss's weight (default 0: off)"},
          {"ssdh-balance", "X", "the SSDH balance loss's weight (default 0: off)"},
          {"init", "FILE", "start from these weights (.caffemodel, deephash model or snapshot): fine-tuning"},
          {"snapshot", "FILE", "write a training snapshot there (at the end, and every --snapshot-every N steps);\n"
                               "{iter} in FILE becomes the iteration, so that every snapshot is kept"},
          {"snapshot-every", "N", "iterations between snapshots"},
          {"resume", "FILE", "continue a snapshot exactly where it stopped; for cifar and fashion-mnist, whose\n"
                             "snapshots hold the network, --bits again (any length) for the second stage"},
          {"device", "D", "cpu (default) or cuda (builds with the GPU module)"},
          {"math", "M", "auto (default: with a time budget, the faster of fp32 and bf16 on the pilot; else bf16\n"
                        "on a CPU with AVX-512 BF16, fp32 elsewhere), fp32, bf16 products (float sums), or tf32 on the GPU"}};
}

// Transfer from a pretrained network (workflow/transfer.hpp).
inline Options transfer_options() {
  return {{"prototxt", "FILE", "train from this pretrained network: a Caffe deploy prototxt (--init: its weights),\n"
                              "or a deephash model (its network and input transformation)"},
          {"latent-after", "BLOB", "with --prototxt: the blob the latent layer reads (also the rerank features), e.g. fc7"},
          {"freeze-below", "BLOB", "with --prototxt: the layers computing BLOB keep their weights and run once per\n"
                                   "image; only the layers above train (30 epochs, lr 0.01 by default; mirroring kept,\n"
                                   "no crops)"},
          {"resize", "N", "with --prototxt: resize to NxN, then crop the net's input size (0: resize to the input)"},
          {"mean", "V[,V,V]", "with --prototxt: subtracted per channel, in the net's order"},
          {"scale", "X", "with --prototxt: multiplies the pixels after the mean"},
          {"rgb", "", "with --prototxt: the net takes RGB\n"
                      "(defaults: a deephash model's own; for a prototxt Caffe's ImageNet preprocessing:\n"
                      "256 resize, crop, BGR, mean 104,117,123, scale 1)"}};
}

inline TransferSpec transfer_spec_from(const Args& a) {
  TransferSpec t;
  t.backbone = a.required("prototxt");
  t.latent_after = a.required("latent-after");
  t.freeze_below = a.get("freeze-below");
  if (a.has("resize")) t.resize = int(a.get_int("resize", 0));
  if (a.has("mean")) {
    t.mean_values.emplace();
    std::stringstream in(a.get("mean"));
    std::string item;
    while (std::getline(in, item, ',')) {
      char* end = nullptr;
      t.mean_values->push_back(std::strtof(item.c_str(), &end));
      if (item.empty() || *end) throw Error("--mean", "expects comma-separated numbers, got '" + a.get("mean") + "'");
    }
  }
  if (a.has("scale")) t.scale = float(a.get_double("scale", 1));
  if (a.has("rgb")) t.bgr = false;
  return t;
}

inline Option threads_option() { return {"threads", "N", "threads (default: all cores)"}; }

inline void print_help(const CommandSpec& c) {
  std::printf("usage: deephash %s %s\n\n%s\n", c.name.c_str(), c.usage.c_str(), c.about.c_str());
  for (const Options& group : c.options) {
    std::printf("\n");
    for (const Option& o : group) {
      std::string left = "  --" + o.name + (o.value.empty() ? "" : " " + o.value);
      std::string help = o.help;
      for (std::size_t nl = help.find('\n'); nl != std::string::npos; nl = help.find('\n', nl + 1))
        help.insert(nl + 1, std::string(26, ' '));
      if (left.size() < 25)
        std::printf("%-25s %s\n", left.c_str(), help.c_str());
      else
        std::printf("%s\n%26s%s\n", left.c_str(), "", help.c_str());
    }
  }
  if (c.lists_image_specs) std::printf("\nimage sets (SPEC):\n%s", kImageSpecHelp);
}

// argv's options for the command; prints the help (and returns false) for --help.
inline bool parse_command(const CommandSpec& c, int argc, char** argv, Args& out) {
  out = Args("deephash " + c.name, argc, argv, 2);
  if (out.help()) {
    print_help(c);
    return false;
  }
  std::set<std::string> known;
  for (const Options& group : c.options)
    for (const Option& o : group) known.insert(o.name);
  out.allow_only(known);
  return true;
}

inline unsigned threads_from(const Args& a) {
  const long n = a.get_int("threads", long(default_num_threads()));
  if (n < 1) throw Error("--threads", "must be at least 1");
  return unsigned(n);
}

inline HoldOutRule holdout_from(const Args& a) {
  HoldOutRule rule;
  const long q = a.get_int("queries-per-class", long(rule.queries_per_class));
  const long v = a.get_int("validation-per-class", long(rule.validation_per_class));
  if (q < 0 || v < 0) throw Error("--queries-per-class / --validation-per-class", "must not be negative");
  rule.queries_per_class = std::size_t(q);
  rule.validation_per_class = std::size_t(v);
  return rule;
}

// --dataset SPEC, or --database SPEC [--queries SPEC].
inline RetrievalSets sets_from(const Args& a, const SourceOptions& options = {}, const std::string& default_dataset = "") {
  if (a.has("dataset") && (a.has("database") || a.has("queries")))
    throw Error("--dataset", "names both sets; give either --dataset or --database and --queries");
  if (a.has("database")) return open_retrieval_sets(a.get("database"), a.get("queries"), holdout_from(a), options);
  if (a.has("queries")) throw Error("--queries", "needs --database");
  if (!a.has("dataset") && default_dataset.empty()) throw Error("images", "give --dataset SPEC, or --database SPEC and --queries SPEC");
  return open_retrieval_sets(a.get("dataset", default_dataset), holdout_from(a), options);
}

// With `bit_lengths` (demo: --bits LIST), --bits is a list read there and c.bits left as is.
inline TrainConfig train_config_from(const Args& a, TrainConfig c = {}, bool bit_lengths = false) {
  c.arch = a.get("arch", c.arch);
  if (!bit_lengths) c.bits = int(a.get_int("bits", c.bits));
  if (a.has("epochs")) c.epochs = a.get_double("epochs", 0);
  if (a.has("minutes")) c.minutes = a.get_double("minutes", 0);
  c.batch = int(a.get_int("batch", c.batch));
  if (a.has("lr")) c.lr = float(a.get_double("lr", 0));
  c.lr_policy = a.get("lr-policy", c.lr_policy);
  c.weight_decay = float(a.get_double("weight-decay", c.weight_decay));
  if (a.has("label-smoothing")) c.label_smoothing = float(a.get_double("label-smoothing", 0));
  if (a.has("mirror")) c.mirror = mirror_named(a.get("mirror", ""));
  c.seed = std::uint64_t(a.get_int("seed", long(c.seed)));
  c.binarization_weight = float(a.get_double("ssdh-binarization", c.binarization_weight));
  c.balance_weight = float(a.get_double("ssdh-balance", c.balance_weight));
  c.init = a.get("init", c.init);
  c.snapshot = a.get("snapshot", c.snapshot);
  c.snapshot_every = int(a.get_int("snapshot-every", c.snapshot_every));
  c.resume = a.get("resume", c.resume);
  c.device = a.get("device", c.device);
  c.math = a.get("math", c.math);
  check_train_config(c);
  return c;
}

inline void print_sets(const RetrievalSets& s) {
  std::printf("%s: %zu database images, %zu queries", s.name.c_str(), s.database->size(), s.queries->size());
  if (!s.holdout.empty()) std::printf(" (held out %s)", s.holdout.c_str());
  if (s.validation->size()) std::printf(", %zu of the database for validation", s.validation->size());
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace deephash::cli
