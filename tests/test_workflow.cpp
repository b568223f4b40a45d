// The workflow as library API: the shared hold-out rule (hand-computed), collections with one
// set or two, training from a streamed folder equal to training from the same images in
// memory, encoding streamed to a file equal to encoding in memory, weight-format detection,
// and evaluation that refuses sets that do not belong together.
#include <doctest/doctest.h>

#include <filesystem>
#include <numeric>


#include <deephash/data/image_decode.hpp>
#include <deephash/data/image_folder.hpp>
#include <deephash/data/sources/memory_source.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/workflow/evaluation.hpp>
#include <deephash/workflow/sets.hpp>
#include <deephash/workflow/recipe.hpp>
#include <deephash/workflow/shared_network.hpp>

#include "sources_support.hpp"
#include "support.hpp"

using namespace deephash;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

// dir/<set>/<class>/<k>.png: 12x12 colour images, a class is a colour plus noise.
// Three classes of 12x12 noise images, told apart by one bright channel (gray: by brightness).
void write_class_tree(const std::string& root, int per_class, int seed, int channels = 3) {
  const char* classes[] = {"blue", "green", "red"};
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < per_class; ++k) {
      const std::string path = root + "/" + classes[c] + "/" + std::to_string(100 + k) + ".png";
      fs::create_directories(fs::path(path).parent_path());
      Image im = test::noise_image(12, 12, channels, seed + c * 1000 + k);
      for (std::size_t p = 0; p < im.pixels.size(); ++p)
        if (channels == 1 ? p % 3 == std::size_t(c) : int(p % 3) == 2 - c) im.pixels[p] = std::uint8_t(200 + im.pixels[p] % 50);
      REQUIRE(stbi_write_png(path.c_str(), im.width, im.height, channels, im.pixels.data(), im.width * channels) != 0);
    }
}

TrainConfig tiny_training() {
  TrainConfig c;
  c.arch = "cifar";
  c.bits = 12;
  c.epochs = 1;
  c.batch = 6;
  c.lr = 0.01f;
  c.show_progress = false;
  return c;
}

}  // namespace

TEST_CASE("the hold-out rule: evenly spaced per class, capped by a fraction, the same everywhere") {
  // Class 0: items 0..9; class 1: items 10..14 (interleaved below to check per-class order).
  std::vector<int> labels;
  for (int i = 0; i < 10; ++i) labels.push_back(0);
  for (int i = 0; i < 5; ++i) labels.push_back(1);
  HoldOutRule rule;
  rule.queries_per_class = 2;
  rule.max_query_fraction = 0.2;
  rule.validation_per_class = 1;
  rule.max_validation_fraction = 0.25;
  const HeldOutSplit s = hold_out(labels, rule);
  // Class 0 (n = 10): q = min(2, 2) at floor(0.5 * 5) = 2 and floor(1.5 * 5) = 7; of the 8
  // left, v = min(1, 2): position floor(0.5 * 8) = 4 of [0 1 3 4 5 6 8 9] = item 5.
  // Class 1 (n = 5): q = min(2, floor(1)) = 1 at floor(0.5 * 5) = 2, item 12; v = min(1,
  // floor(4 * 0.25) = 1): position 2 of [10 11 13 14] = item 13.
  CHECK(s.queries == std::vector<std::size_t>{2, 7, 12});
  CHECK(s.validation == std::vector<std::size_t>{5, 13});
  CHECK(s.training == std::vector<std::size_t>{0, 1, 3, 4, 6, 8, 9, 10, 11, 14});
  CHECK(s.database() == std::vector<std::size_t>{0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14});
  CHECK(hold_out(labels, rule).queries == s.queries);  // no seed, no state

  HoldOutRule bad = rule;
  bad.max_query_fraction = 1.5;
  CHECK_THROWS_WITH_AS(hold_out(labels, bad), doctest::Contains("fractions must lie in [0, 1)"), Error);
  CHECK(rule.describe().find("2 queries") != std::string::npos);
}

TEST_CASE("retrieval sets: a train/test collection as it is, one set held out, or two named apart") {
  TempDir dir;
  write_class_tree(dir.file("both/train"), 10, 1);
  write_class_tree(dir.file("both/test"), 3, 2);
  write_class_tree(dir.file("one"), 10, 3);

  HoldOutRule rule;
  rule.queries_per_class = 2;
  const RetrievalSets two = open_retrieval_sets("folder:" + dir.file("both"), rule);
  CHECK(two.database->size() == 30);
  CHECK(two.queries->size() == 9);
  CHECK(two.holdout.empty());
  CHECK(two.database_spec == "folder:" + dir.file("both") + "@train");
  CHECK(two.queries->locator(0).find(dir.file("both/test/blue/")) == 0);
  CHECK(two.database_provenance().role == "database");

  const RetrievalSets one = open_retrieval_sets("folder:" + dir.file("one"), rule);
  CHECK(one.queries->size() == 6);
  CHECK(one.database->size() == 24);
  CHECK(one.holdout == rule.describe());
  // The queries are exactly the rule's, and none is in the database.
  const HeldOutSplit split = hold_out(FolderSource(dir.file("one")).labels(), rule);
  for (std::size_t i = 0; i < one.queries->size(); ++i)
    CHECK(one.queries->locator(i) == FolderSource(dir.file("one")).locator(split.queries[i]));
  for (std::size_t i = 0; i < one.database->size(); ++i)
    for (std::size_t j = 0; j < one.queries->size(); ++j) CHECK(one.database->locator(i) != one.queries->locator(j));

  const RetrievalSets apart = open_retrieval_sets("folder:" + dir.file("both") + "@train", "folder:" + dir.file("both") + "@test", rule);
  CHECK(apart.database->size() == 30);
  CHECK(apart.queries->size() == 9);

  CHECK_THROWS_WITH_AS(open_image_source("folder:" + dir.file("both")), doctest::Contains("name one"), Error);
  CHECK_THROWS_WITH_AS(open_image_source("folder:" + dir.file("both") + "@val"), doctest::Contains("has no set 'val'"), Error);
  CHECK_THROWS_WITH_AS(open_image_source("bogus:x"), doctest::Contains("unknown kind 'bogus'"), Error);
  CHECK(parse_image_spec("archive:/data/me@host/x.tar.gz").path == "/data/me@host/x.tar.gz");
  CHECK(parse_image_spec("archive:/data/me@host/x.tar.gz@test").set == "test");

  // A validation set comes out of the database and never touches the queries.
  rule.validation_per_class = 1;
  rule.max_validation_fraction = 0.25;
  const RetrievalSets with_validation = open_retrieval_sets("folder:" + dir.file("one"), rule);
  CHECK(with_validation.validation->size() == 3);
  CHECK(with_validation.training->size() == 21);
  CHECK(with_validation.queries->size() == 6);
}

TEST_CASE("training from a streamed folder gives the weights that training on the same images in memory gives") {
  TempDir dir;
  write_class_tree(dir.file("imgs"), 8, 5);
  const FolderSource folder(dir.file("imgs"));
  const ImageDataset loaded = load_image_folder(dir.file("imgs"));
  ThreadPool pool(2);
  const TrainResult streamed = train_hashing_model(folder, tiny_training(), pool);
  const TrainResult in_memory = train_hashing_model(MemorySource(loaded), tiny_training(), pool);
  REQUIRE(streamed.model.weights.size() == in_memory.model.weights.size());
  for (std::size_t l = 0; l < streamed.model.weights.size(); ++l)
    for (std::size_t b = 0; b < streamed.model.weights[l].blobs.size(); ++b)
      CHECK(streamed.model.weights[l].blobs[b].data == in_memory.model.weights[l].blobs[b].data);
  CHECK(streamed.model.class_names == std::vector<std::string>{"blue", "green", "red"});
  CHECK(streamed.history.iteration.back() == 4);  // 24 images, batch 6, one epoch

  // The same images named by path (PathListSource), and a step hook that sees every step and
  // stops the run by throwing.
  TrainConfig hooked = tiny_training();
  std::vector<nn::TrainingProgress> steps;
  hooked.on_step = [&](const nn::TrainingProgress& p) { steps.push_back(p); };
  const TrainResult by_path = train_hashing_model(PathListSource(loaded.paths, loaded.labels), hooked, pool);
  CHECK(by_path.model.weights.back().blobs[0].data == in_memory.model.weights.back().blobs[0].data);
  // The preset trains the network (4 steps), then its hash layers (the second stage's steps).
  REQUIRE(steps.size() > 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK((steps[i].iteration == int(i) + 1 && steps[i].until == 4));
  CHECK((steps[3].logged && steps[3].loss == by_path.history.loss.back()));
  CHECK((steps.back().logged && steps.back().iteration == steps.back().until && steps.back().until != 4));
  hooked.on_step = [](const nn::TrainingProgress& p) {
    if (p.iteration == 2) throw Error("hook", "stop here");
  };
  CHECK_THROWS_WITH_AS(train_hashing_model(folder, hooked, pool), "hook: stop here", Error);
  CHECK_THROWS_WITH_AS(PathListSource({"a.png"}, {0, 1}), doctest::Contains("1 paths but 2 labels"), Error);

  // Encoding: streamed to a file, in memory, and through the in-memory dataset all agree.
  auto frontend = streamed.model.make_frontend(2);
  EncodeOptions o;
  o.with_features = true;
  o.batch = 5;
  o.show_progress = false;
  const Provenance p{folder.spec(), "all", ""};
  const EncodedSet in_memory_set = encode_source(*frontend, folder, p, o);
  encode_source_to_file(*frontend, folder, p, dir.file("codes.dhc"), o);
  save_encoded_set(in_memory_set, dir.file("whole.dhc"));
  CHECK(read_file_bytes(dir.file("codes.dhc")) == read_file_bytes(dir.file("whole.dhc")));
  const EncodedImages direct = encode_images(*frontend, loaded.all(), true, 7, "encode", false);
  CHECK(in_memory_set.codes == direct.codes);
  CHECK(in_memory_set.features.isApprox(direct.features));
  CHECK(in_memory_set.paths == loaded.paths);
  CHECK(in_memory_set.source == folder.spec());
}

TEST_CASE("the pilot's step time: the mean step, steps slowed past 1.5x the median left out") {
  using deephash::detail::typical_step_seconds;
  // Clock readings after each step. A one-second stall (another process) among 0.1 s steps is left out.
  CHECK(typical_step_seconds({0, 0.1, 0.2, 0.3, 0.4, 1.4, 1.5}) == doctest::Approx(0.1));
  // Steps of 0.09 and 0.12 s: all within 1.5x the median (0.09), so their mean, 0.102, not the median.
  CHECK(typical_step_seconds({0, 0.09, 0.18, 0.27, 0.39, 0.51}) == doctest::Approx(0.102));
  CHECK(typical_step_seconds({2, 2.5}) == doctest::Approx(0.5));
  CHECK_THROWS_AS(typical_step_seconds({1.0}), deephash::Error);
}

TEST_CASE("a time budget plans the network's epochs and arithmetic from a pilot: half epochs, at least one, at most twice the preset's") {
  TempDir dir;
  write_class_tree(dir.file("imgs"), 8, 5);
  const ImageDataset images = load_image_folder(dir.file("imgs"));
  const MemorySource folder(images);
  ThreadPool pool(2);
  TrainConfig c = tiny_training();
  c.epochs.reset();
  const ArchitecturePreset preset = preset_for(folder, c);
  REQUIRE(preset.minutes == 30);  // cifar's default budget
  const HashingModel start = starting_model(preset, folder, c, pool);
  auto planned_epochs = [&]() -> std::optional<double> {
    const std::optional<BudgetPlan> plan = plan_within_budget(preset, start, folder, c, pool);
    if (!plan) return std::nullopt;
    return plan->epochs;
  };
  // 24 images in batches of 6: a step takes milliseconds, so 30 minutes fit more than the cap.
  CHECK(planned_epochs() == 2 * preset.epochs);
  c.minutes = 1e-6;  // a budget nothing fits: one epoch all the same
  CHECK(planned_epochs() == 1.0);
  c.minutes = 0;  // no budget: the preset's epochs
  CHECK_FALSE(planned_epochs());
  c.minutes = 30;
  c.epochs = 3;  // given epochs win
  CHECK_FALSE(planned_epochs());
  // In between, the plan is a whole number of half epochs, and the recipe trains that many.
  c.epochs.reset();
  c.minutes = 0.002;
  const std::optional<double> planned = planned_epochs();
  REQUIRE(planned);
  CHECK(*planned * 2 == std::floor(*planned * 2));
  CHECK(*planned >= 1);
  CHECK(*planned <= 2 * preset.epochs);

  // The arithmetic: as given, or for "auto" where the CPU has bf16 products, the one the pilot
  // timed faster (the epochs follow that time).
  c.math = "fp32";
  std::optional<BudgetPlan> plan = plan_within_budget(preset, start, folder, c, pool);
  REQUIRE(plan);
  CHECK(plan->math == "fp32");
  CHECK(plan->fp32_step_seconds == 0);  // not timed twice
  CHECK(plan->step_seconds > 0);
  c.math = "auto";
  plan = plan_within_budget(preset, start, folder, c, pool);
  REQUIRE(plan);
  if (nn::bf16::available()) {
    REQUIRE(plan->fp32_step_seconds > 0);
    REQUIRE(plan->bf16_step_seconds > 0);
    CHECK(plan->math == (plan->bf16_step_seconds < plan->fp32_step_seconds ? "bf16" : "fp32"));
    CHECK(plan->step_seconds == std::min(plan->fp32_step_seconds, plan->bf16_step_seconds));
  } else {
    CHECK(plan->math == "auto");  // made definite (fp32) where the run starts
    CHECK(plan->bf16_step_seconds == 0);
  }

  c.minutes = 1e-6;
  CHECK(train_hashing_model(folder, c, pool).epochs == 1.0);
  c.minutes = -1;
  CHECK_THROWS_WITH_AS(train_hashing_model(folder, c, pool), doctest::Contains("time budget"), Error);
}

TEST_CASE("two-stage presets: the network with its many latent units (256 cifar, 48 fashion-mnist), then new hash layers of the requested length on its frozen layers") {
  // CIFAR retrains its last convolution with them (on "pool3"), Fashion-MNIST its fc1 (on "pool2").
  struct Case {
    std::string arch;
    int channels;
    std::vector<std::string> retrained;
  };
  for (const Case& k : {Case{"cifar", 3, {"conv3b", "conv3b_bn", "conv3b_scale"}}, Case{"fashion-mnist", 1, {"fc1", "fc1_bn", "fc1_scale"}}}) {
    CAPTURE(k.arch);
    TempDir dir;
    write_class_tree(dir.file("imgs"), 8, 5, k.channels);
    ImageLoadOptions gray_or_colour;
    gray_or_colour.channels = k.channels;
    const ImageDataset images = load_image_folder(dir.file("imgs"), gray_or_colour);
    const MemorySource folder(images);
    ThreadPool pool(2);
    TrainConfig twelve = tiny_training();
    twelve.arch = k.arch;
    const TrainResult r = train_hashing_model(folder, twelve, pool);
    // The first stage alone, as the recipe runs it, with a snapshot at its end (resumed below).
    TrainConfig network = twelve;
    network.bits = preset_for(folder, twelve).network_bits;  // 256
    network.snapshot = dir.file("network.snapshot");
    const ArchitecturePreset preset = preset_for(folder, network);
    REQUIRE(preset.retrain_hash_layers);
    const TrainResult first = train_model(starting_model(preset, folder, network, pool),
                                          {preset.epochs, 0.1f, {"latent", "scores"}}, folder, network, pool);
    auto layer = [](const TrainResult& t, const std::string& name) -> const nn::LayerWeights& {
      for (const nn::LayerWeights& w : t.model.weights)
        if (w.layer == name) return w;
      FAIL("no layer " << name);
      throw;
    };
    CHECK(layer(first, "latent").blobs[0].shape == std::vector<int>{network.bits, 256});
    CHECK(layer(r, "latent").blobs[0].shape == std::vector<int>{12, 256});
    // Below the retrained layers the network is the first stage's, bit for bit: it was frozen.
    REQUIRE(r.model.weights.size() == first.model.weights.size());
    std::size_t frozen = 0, retrained = 0;
    for (const nn::LayerWeights& w : first.model.weights) {
      if (w.layer == "latent" || w.layer == "scores") continue;
      const nn::LayerWeights& mine = layer(r, w.layer);
      REQUIRE(mine.blobs.size() == w.blobs.size());
      bool same = true;
      for (std::size_t b = 0; b < w.blobs.size(); ++b) same = same && mine.blobs[b].data == w.blobs[b].data;
      const bool trains = std::find(k.retrained.begin(), k.retrained.end(), w.layer) != k.retrained.end();
      CHECK_MESSAGE(same != trains, w.layer);
      ++(trains ? retrained : frozen);
    }
    CHECK(frozen >= 4);  // the convolutions at least
    CHECK(retrained == k.retrained.size());
    CHECK(r.model.description.find("hash layers retrained at 12 bits") != std::string::npos);
    CHECK(r.history.iteration.back() == 4);  // the curves are the network's: 24 images, batch 6, one epoch
    CHECK(r.history.seconds > first.history.seconds * 0.5);  // both stages' time
    // The codes have the requested length.
    auto frontend = r.model.make_frontend(2);
    EncodeOptions o;
    o.show_progress = false;
    const EncodedSet codes = encode_source(*frontend, folder, Provenance{folder.spec(), "all", ""}, o);
    CHECK(codes.codes.bits() == 12);

    // The second stage runs at its own learning rate (the peak of its one-cycle schedule).
    SecondStage faster = preset.second_stage;
    faster.lr = 0.05f;
    const TrainResult stage = retrain_hash_layers(first.model, folder, twelve, pool, "hash layers", faster);
    const double peak = *std::max_element(stage.history.learning_rate.begin(), stage.history.learning_rate.end());
    CHECK(peak == doctest::Approx(0.05).epsilon(0.02));

    // The first stage's final snapshot, resumed at another length, takes the second stage alone
    // (how one network gives codes of several lengths), and the curves are then that stage's.
    TrainConfig resumed = twelve;
    resumed.resume = network.snapshot;
    resumed.bits = 32;
    const TrainResult again = train_hashing_model(folder, resumed, pool);
    CHECK(layer(again, "latent").blobs[0].shape == std::vector<int>{32, 256});
    const nn::LayerWeights& first_layer = first.model.weights.front();
    CHECK(layer(again, first_layer.layer).blobs[0].data == first_layer.blobs[0].data);
    CHECK(!again.history.iteration.empty());

    // Several lengths at once: one network, then a second stage per length; each model is the
    // one that length alone gives, bit for bit (same seed, same threads). With
    // SecondStage::once (fashion-mnist) the shorter length is hash layers on the longer's
    // features instead: its own test case below.
    const std::vector<TrainResult> both = train_hashing_models(folder, twelve, {12, 32}, pool);
    REQUIRE(both.size() == 2);
    REQUIRE(both[0].model.weights.size() == r.model.weights.size());
    if (!preset.second_stage.once)
      for (std::size_t i = 0; i < r.model.weights.size(); ++i)
        for (std::size_t b = 0; b < r.model.weights[i].blobs.size(); ++b)
          CHECK_MESSAGE(both[0].model.weights[i].blobs[b].data == r.model.weights[i].blobs[b].data, r.model.weights[i].layer);
    CHECK(layer(both[1], "latent").blobs[0].shape == std::vector<int>{32, 256});
    CHECK(layer(both[1], first_layer.layer).blobs[0].data == first_layer.blobs[0].data);
    CHECK_THROWS_WITH_AS(train_hashing_models(folder, twelve, {}, pool), doctest::Contains("no code length"), Error);
  }
}

TEST_CASE("fashion-mnist at several code lengths: the longest takes the second stage, the others hash layers on its features") {
  // 20 generated 28x28 gray images of 4 classes: the fashion-mnist preset (SecondStage::once).
  ImageDataset set;
  set.height = set.width = 28;
  set.channels = 1;
  set.class_names = {"a", "b", "c", "d"};
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20; ++i) {
    set.labels.push_back(i % 4);
    for (int p = 0; p < 28 * 28; ++p) set.pixels.push_back(std::uint8_t((p / 28 / 7 == i % 4 ? 160 : 30) + rng() % 60));
  }
  const MemorySource source(set);
  TrainConfig c;
  c.arch = "fashion-mnist";
  c.epochs = 1;
  c.batch = 10;
  c.lr = 0.01f;
  c.show_progress = false;
  ThreadPool pool(2);
  REQUIRE(preset_for(source, c).second_stage.once);
  const std::vector<TrainResult> models = train_hashing_models(source, c, {8, 16}, pool);
  REQUIRE(models.size() == 2);
  auto layer = [](const TrainResult& t, const std::string& name) -> const nn::LayerWeights& {
    for (const auto& w : t.model.weights)
      if (w.layer == name) return w;
    FAIL("no layer " << name);
    throw 0;
  };
  CHECK(layer(models[0], "latent").blobs[0].shape == std::vector<int>{8, 256});
  CHECK(layer(models[1], "latent").blobs[0].shape == std::vector<int>{16, 256});
  // The 16-bit model is the one 16 bits alone gives, bit for bit (same seed, same threads).
  c.bits = 16;
  const TrainResult alone = train_hashing_model(source, c, pool);
  for (const auto& w : alone.model.weights)
    for (std::size_t b = 0; b < w.blobs.size(); ++b) CHECK_MESSAGE(layer(models[1], w.layer).blobs[b].data == w.blobs[b].data, w.layer);
  // The 8-bit model shares everything below its hash layers with it, fc1 included.
  for (const auto& w : models[1].model.weights)
    if (w.layer != "latent" && w.layer != "scores")
      for (std::size_t b = 0; b < w.blobs.size(); ++b) CHECK_MESSAGE(layer(models[0], w.layer).blobs[b].data == w.blobs[b].data, w.layer);
  CHECK(models[0].model.description.find("hash layers retrained at 8 bits on its frozen fc1") != std::string::npos);
  CHECK(models[0].history.seconds > models[1].history.seconds);  // the longest's stages, then its own
  CHECK_THROWS_WITH_AS(train_hashing_models(source, c, {16, 8, 16}, pool), doctest::Contains("the code length 16 is listed twice"), Error);

  // So the two encode in one pass of the network: the shared model's latent activations are each
  // model's own, side by side, and so are the codes (flip averaging included).
  REQUIRE(models[0].model.frontend.flip_average);
  const std::optional<SharedNetwork> shared = share_network({&models[0].model, &models[1].model});
  REQUIRE(shared);
  CHECK(shared->offsets == std::vector<int>{0, 8, 24});
  const EncodedImages together = encode_images(*shared->model.make_frontend(2), set.all(), true, 7, "", false);
  REQUIRE(together.codes.bits() == 24);
  for (std::size_t m = 0; m < 2; ++m) {
    const EncodedImages own = encode_images(*models[m].model.make_frontend(2), set.all(), true, 7, "", false);
    const int first = shared->offsets[m], bits = shared->offsets[m + 1] - first;
    CHECK(together.codes.bit_columns(first, bits) == own.codes);
    CHECK((together.activations.middleCols(first, bits) - own.activations).cwiseAbs().maxCoeff() < 1e-6f);
    CHECK((together.features - own.features).cwiseAbs().maxCoeff() < 1e-6f);
  }
  // Models whose networks differ anywhere below the hash layers (one weight, the test-time
  // augmentation) do not share one; nor does a model alone.
  HashingModel other = models[0].model;
  for (auto& w : other.weights)
    if (w.layer == "conv3") w.blobs[0].data[5] += 1e-3f;
  CHECK_FALSE(share_network({&other, &models[1].model}));
  other = models[0].model;
  other.frontend.flip_average = false;
  CHECK_FALSE(share_network({&other, &models[1].model}));
  CHECK_FALSE(share_network({&models[1].model}));
}

TEST_CASE("weights are recognised by their bytes, whatever the file name") {
  TempDir dir;
  ThreadPool pool(2);
  write_class_tree(dir.file("imgs"), 4, 9);
  TrainConfig c = tiny_training();
  c.snapshot = dir.file("state.bin");
  const TrainResult r = train_hashing_model(FolderSource(dir.file("imgs")), c, pool);
  save_model(r.model, dir.file("model.weights"));
  write_caffemodel(dir.file("caffe.weights"), r.model.net, r.model.weights, CaffeFormat::Current);
  CHECK(detect_weights_format(dir.file("model.weights")) == WeightsFormat::DeephashModel);
  CHECK(detect_weights_format(dir.file("state.bin")) == WeightsFormat::DeephashSnapshot);
  CHECK(detect_weights_format(dir.file("caffe.weights")) == WeightsFormat::Caffemodel);
  for (const char* f : {"model.weights", "state.bin", "caffe.weights"}) {
    const auto w = load_weights(dir.file(f));
    REQUIRE(w.size() == r.model.weights.size());
    CHECK(w.front().blobs.front().data == r.model.weights.front().blobs.front().data);
  }
  test::write_bytes(dir.file("junk"), {0x00, 0x01, 0x02, 0x03});
  CHECK_THROWS_WITH_AS(detect_weights_format(dir.file("junk")), doctest::Contains("neither a deephash model"), Error);
  CHECK_THROWS_WITH_AS(detect_weights_format(dir.file("absent")), doctest::Contains("cannot open"), Error);

  // Fine-tuning starts from those weights.
  TrainConfig fine = tiny_training();
  fine.init = dir.file("caffe.weights");
  fine.epochs = 0.25;
  CHECK_NOTHROW(train_hashing_model(FolderSource(dir.file("imgs")), fine, pool));
}

TEST_CASE("evaluation runs through the protocol and refuses sets that do not belong together") {
  EncodedSet db, q;
  db.codes = test::random_codes(40, 16, 1);
  q.codes = test::random_codes(5, 16, 2);
  for (int i = 0; i < 40; ++i) db.labels.push_back(i % 4);
  for (int i = 0; i < 5; ++i) q.labels.push_back(i % 4);
  db.source = q.source = "folder:x";
  db.role = "database";
  q.role = "queries";
  db.holdout = q.holdout = HoldOutRule{}.describe();
  const ProtocolResult r = evaluate_encoded(db, q, map_at_k_protocol("t", 10), 2);
  CHECK(r.scores.map >= 0);
  CHECK(r.scores.map <= 1);

  EncodedSet other_rule = q;
  other_rule.holdout = "per class: 5 queries";
  CHECK_THROWS_WITH_AS(evaluate_encoded(db, other_rule, map_at_k_protocol("t"), 2), doctest::Contains("different rules"), Error);
  EncodedSet both_database = q;
  both_database.role = "database";
  CHECK_THROWS_WITH_AS(evaluate_encoded(db, both_database, map_at_k_protocol("t"), 2), doctest::Contains("are both the database"), Error);
  EncodedSet longer = q;
  longer.codes = test::random_codes(5, 32, 2);
  CHECK_THROWS_WITH_AS(evaluate_encoded(db, longer, map_at_k_protocol("t"), 2), doctest::Contains("16 and 32 bits"), Error);
  // The protocol's own checks run: the paper's CIFAR-10 protocol wants 10,000 queries.
  CHECK_THROWS_WITH_AS(evaluate_encoded(db, q, cifar10_lin2015_protocol(), 2), doctest::Contains("10000 queries"), Error);
}
