// The trained models in examples/models/: each loads, says what it is, and scores on a fixed
// held-out subset the mAP@1000 its README records — the validation images (100 a class, held out
// of training by the shared rule, never trained on) as queries against every 10th training
// image. A model that changed, or an encoding path that did, shows here. Skipped (not passed)
// where the dataset is absent.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <utility>

#include <deephash/workflow/experiment.hpp>
#include <deephash/workflow/weights.hpp>

#include "support.hpp"

using namespace deephash;

namespace {

struct ShippedModel {
  const char* folder;   // under examples/models/
  std::string dataset;  // the SPEC it was trained on, as --database
  int bits;
  double map_at_1000;   // on the fixed subset, as its README records it
};

double subset_map(const ShippedModel& s, const HashingModel& model) {
  HoldOutRule rule;
  rule.validation_per_class = 100;
  const RetrievalSets all = open_retrieval_sets(s.dataset, "", rule);
  RetrievalSets sets = all.validation_sets();
  std::vector<std::size_t> every_tenth;
  for (std::size_t i = 0; i < all.training->size(); i += 10) every_tenth.push_back(i);
  sets.database = deephash::detail::subset(all.training, every_tenth, "every 10th training image");
  EncodeOptions quiet;
  quiet.show_progress = false;
  return evaluate_model(model, sets, s.folder, 0, default_num_threads(), quiet).record.map_at_1000;
}

std::string model_file(const char* folder) { return std::string(DEEPHASH_SOURCE_DIR "/examples/models/") + folder + "/model.dhm"; }

void check_shipped(const ShippedModel& s) {
  CAPTURE(s.folder);
  const double map = subset_map(s, load_model(model_file(s.folder)));
  std::printf("%s: mAP@1000 %.4f on the fixed subset (README: %.4f)\n", s.folder, map, s.map_at_1000);
  CHECK(std::abs(map - s.map_at_1000) < 0.003);
}

}  // namespace

TEST_CASE("the shipped models load: under 10 MB, a README each, ten classes, their code length, no solver state") {
  // (No structured binding: doctest's CAPTURE takes a reference in a lambda, which C++17 does
  // not allow for one.)
  for (const std::pair<const char*, int>& shipped : {std::pair<const char*, int>{"cifar10-48bit", 48}, {"cifar10-32bit", 32},
                                                     {"cifar10-12bit", 12}, {"fashion-mnist-48bit", 48}}) {
    const char* folder = shipped.first;
    const int bits = shipped.second;
    CAPTURE(folder);
    const std::string file = model_file(folder);
    REQUIRE(std::filesystem::exists(file));
    CHECK(std::filesystem::file_size(file) < 10u << 20);
    CHECK(std::filesystem::exists(std::filesystem::path(file).parent_path() / "README.md"));
    CHECK(detect_weights_format(file) == WeightsFormat::DeephashModel);  // a model, not a snapshot
    const HashingModel model = load_model(file);
    CHECK(model.class_names.size() == 10);
    CHECK(model.make_frontend(1)->code_bits() == bits);
  }
}

DEEPHASH_OPTIONAL_TEST_CASE("the shipped CIFAR-10 models score what their READMEs record") {
  const std::string cifar = DEEPHASH_SHARED_DATASETS "/cifar10-train-jpg.tar.gz";
  test::skip_unless(std::filesystem::exists(cifar), "the CIFAR-10 training archive (" + cifar + ")");
  for (const ShippedModel& s : {ShippedModel{"cifar10-48bit", "archive:" + cifar, 48, 0.9017},
                                ShippedModel{"cifar10-32bit", "archive:" + cifar, 32, 0.9038},
                                ShippedModel{"cifar10-12bit", "archive:" + cifar, 12, 0.8989}})
    check_shipped(s);
}

DEEPHASH_OPTIONAL_TEST_CASE("the shipped Fashion-MNIST model scores what its README records") {
  const std::string fashion = "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist
  test::skip_unless(std::filesystem::exists(fashion), "Debian's dataset-fashion-mnist (" + fashion + ")");
  check_shipped({"fashion-mnist-48bit", "fashion-mnist@train", 48, 0.9572});
}
