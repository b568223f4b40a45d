// Transfer from a pretrained network: the hash layers put on a deploy prototxt (its classifier
// dropped), a net cut at a blob computing what the whole net computes, cuts across a skip
// connection refused, and training above a frozen part that keeps the frozen weights bit for
// bit and learns codes that separate the classes.
#include <doctest/doctest.h>

#include <random>

#include <deephash/codes/binarize.hpp>
#include <deephash/data/sources/memory_source.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/io/caffe/prototxt.hpp>
#include <deephash/workflow/transfer.hpp>

#include "support.hpp"

using namespace deephash;

namespace {

// A CaffeNet in miniature, as a deploy file gives it: net-level input, in-place ReLUs, and its
// own 1000-way classifier with a Softmax.
const char* kMiniNet = R"(
name: "MiniNet"
input: "data"
input_dim: 10 input_dim: 3 input_dim: 12 input_dim: 12
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool1" top: "fc6" inner_product_param { num_output: 24 weight_filler { type: "xavier" } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7" inner_product_param { num_output: 16 weight_filler { type: "xavier" } } }
layer { name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7" }
layer { name: "fc8" type: "InnerProduct" bottom: "fc7" top: "fc8" inner_product_param { num_output: 1000 } }
layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }
)";

nn::ArchitectureOptions head_options(int batch) {
  nn::ArchitectureOptions o;
  o.bits = 8;
  o.classes = 3;
  o.batch = batch;
  return o;
}

const nn::LayerSpec* find_layer(const nn::NetSpec& net, const std::string& name) {
  for (const nn::LayerSpec& l : net.layers)
    if (l.name == name) return &l;
  return nullptr;
}

const nn::LayerWeights& weights_of(const std::vector<nn::LayerWeights>& all, const std::string& layer) {
  for (const nn::LayerWeights& w : all)
    if (w.layer == layer) return w;
  FAIL("no weights for layer " << layer);
  return all.front();
}

void fill_uniform(nn::Blob<float>& blob, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (std::size_t i = 0; i < blob.count(); ++i) blob.data()[i] = u(rng);
}

// MiniNet's deploy file and random weights for it, in a .caffemodel of the given format.
struct Backbone {
  std::string prototxt, weights;
  std::vector<nn::LayerWeights> pretrained;
};
Backbone write_backbone(const test::TempDir& dir, std::uint64_t seed, CaffeFormat format) {
  Backbone b{(dir.path / "mini.prototxt").string(), (dir.path / "mini.caffemodel").string(), {}};
  test::write_bytes(b.prototxt, std::vector<std::uint8_t>(kMiniNet, kMiniNet + std::string(kMiniNet).size()));
  const nn::NetSpec net = read_caffe_prototxt(b.prototxt);
  nn::NetOptions seeded;
  seeded.seed = seed;
  b.pretrained = nn::Net<float>(net, nn::Phase::Test, seeded).weights();
  write_caffemodel(b.weights, net, b.pretrained, format);
  return b;
}

// n images of 12x12 per class, 3 classes: a class is one bright channel over noise.
ImageDataset coloured_images(int per_class, std::uint64_t seed) {
  ImageDataset ds;
  ds.height = ds.width = 12;
  ds.channels = 3;
  ds.class_names = {"red", "green", "blue"};
  std::mt19937_64 rng(seed);
  for (int k = 0; k < per_class; ++k)
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 12 * 12 * 3; ++p)
        ds.pixels.push_back(std::uint8_t(p % 3 == c ? 160 + rng() % 96 : rng() % 160));
      ds.labels.push_back(c);
    }
  return ds;
}

}  // namespace

TEST_CASE("the hash layers on a deploy prototxt: latent after the named blob, the net's own classifier dropped") {
  const nn::NetSpec backbone = parse_caffe_prototxt(kMiniNet, "MiniNet");
  const nn::NetSpec net = nn::hash_head_on(backbone, "fc7", head_options(4));
  CHECK(find_layer(net, "fc8") == nullptr);
  CHECK(find_layer(net, "prob") == nullptr);
  REQUIRE(find_layer(net, "latent") != nullptr);
  CHECK(find_layer(net, "latent")->bottoms == std::vector<std::string>{"fc7"});
  CHECK(find_layer(net, "relu7") != nullptr);  // the latent layer reads fc7 after its ReLU
  REQUIRE(find_layer(net, "scores") != nullptr);
  for (const char* fresh : {"latent", "scores"}) {
    REQUIRE(find_layer(net, fresh)->params.size() == 2);
    CHECK(find_layer(net, fresh)->params[0].lr_mult == 10);
    CHECK(find_layer(net, fresh)->params[1].lr_mult == 20);
  }
  CHECK(nn::image_input_of(net).first == "data");
  CHECK(nn::image_input_of(net).second == std::vector<int>{10, 3, 12, 12});
  // It trains: the label input and the loss are there.
  nn::NetOptions o;
  o.input_shapes["data"] = {4, 3, 12, 12};
  nn::Net<float> training(net, nn::Phase::Train, o);
  CHECK(training.has_blob("label"));
  CHECK(training.has_blob("loss"));

  nn::NetSpec clash = backbone;  // pool1 -> fc6 renamed to a blob the hash layers add
  clash.layers[2].tops = {"scores"};
  clash.layers[3].bottoms = {"scores"};
  CHECK_THROWS_WITH_AS(nn::hash_head_on(clash, "fc7", head_options(4)), doctest::Contains("already has a blob 'scores'"), Error);
  CHECK_THROWS_WITH_AS(nn::hash_head_on(backbone, "fc9", head_options(4)), doctest::Contains("has no blob 'fc9'"), Error);
}

TEST_CASE("a net cut at a blob: the part below, then the part above, compute what the whole net computes") {
  const nn::NetSpec net = nn::hash_head_on(parse_caffe_prototxt(kMiniNet, "MiniNet"), "fc7", head_options(5));
  nn::NetOptions o;
  o.seed = 3;
  o.input_shapes["data"] = {5, 3, 12, 12};
  nn::Net<float> whole(net, nn::Phase::Test, o);
  fill_uniform(whole.blob("data"), 7);
  for (int i = 0; i < 5; ++i) whole.blob("label").data()[i] = float(i % 3);
  ThreadPool pool(1);
  whole.forward({nn::Phase::Test, &pool, nullptr});

  for (const std::string blob : {"pool1", "fc6"}) {
    CAPTURE(blob);
    const std::vector<int> item = blob == "pool1" ? std::vector<int>{8, 6, 6} : std::vector<int>{24};
    const nn::NetCut cut = nn::cut_at_blob(net, blob, nn::Phase::Train, item);
    // The in-place ReLU on the cut blob belongs below: above sees its last version.
    if (blob == "fc6") {
      CHECK(find_layer(cut.below, "relu6") != nullptr);
      CHECK(find_layer(cut.above, "relu6") == nullptr);
    }
    CHECK(find_layer(cut.below, "latent") == nullptr);
    CHECK(find_layer(cut.above, "conv1") == nullptr);
    nn::Net<float> below(cut.below, nn::Phase::Test, o);
    std::vector<int> shape = {5};
    shape.insert(shape.end(), item.begin(), item.end());
    nn::NetOptions batch_of_5;
    batch_of_5.input_shapes[blob] = shape;
    nn::Net<float> above(cut.above, nn::Phase::Test, batch_of_5);
    below.load_weights(whole.weights(), "whole");
    above.load_weights(whole.weights(), "whole");
    std::copy(whole.blob("data").data(), whole.blob("data").data() + whole.blob("data").count(), below.blob("data").data());
    below.forward({nn::Phase::Test, &pool, nullptr});
    std::copy(below.blob(blob).data(), below.blob(blob).data() + below.blob(blob).count(), above.blob(blob).data());
    std::copy(whole.blob("label").data(), whole.blob("label").data() + 5, above.blob("label").data());
    above.forward({nn::Phase::Test, &pool, nullptr});
    REQUIRE(above.blob("scores").count() == whole.blob("scores").count());
    for (std::size_t i = 0; i < whole.blob("scores").count(); ++i) CHECK(above.blob("scores").data()[i] == whole.blob("scores").data()[i]);
    CHECK(above.blob("loss").data()[0] == whole.blob("loss").data()[0]);
  }
}

TEST_CASE("a cut across a skip connection is refused, naming the layer") {
  const nn::NetSpec residual = parse_caffe_prototxt(R"(
input: "data" input_dim: 1 input_dim: 2 input_dim: 4 input_dim: 4
layer { name: "a" type: "Convolution" bottom: "data" top: "a" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "b" type: "Convolution" bottom: "a" top: "b" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" }
)", "residual");
  CHECK_THROWS_WITH_AS(nn::cut_at_blob(residual, "b", nn::Phase::Train, {2, 4, 4}),
                       doctest::Contains("layer 'sum'"), Error);
  CHECK_NOTHROW(nn::cut_at_blob(residual, "a", nn::Phase::Train, {2, 4, 4}));
}

TEST_CASE("cuts in a branching net (an inception module): after the concat they work, inside a branch they are refused") {
  const nn::NetSpec inception = parse_caffe_prototxt(R"(
name: "Inception"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "stem" type: "Convolution" bottom: "data" top: "stem" convolution_param { num_output: 6 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "stem_relu" type: "ReLU" bottom: "stem" top: "stem" }
layer { name: "b1" type: "Convolution" bottom: "stem" top: "b1" convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "b3r" type: "Convolution" bottom: "stem" top: "b3r" convolution_param { num_output: 3 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "b3" type: "Convolution" bottom: "b3r" top: "b3" convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "bp" type: "Pooling" bottom: "stem" top: "bp" pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 } }
layer { name: "out" type: "Concat" bottom: "b1" bottom: "b3" bottom: "bp" top: "out" }
layer { name: "out_relu" type: "ReLU" bottom: "out" top: "out" }
layer { name: "gap" type: "Pooling" bottom: "out" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc" type: "InnerProduct" bottom: "gap" top: "fc" inner_product_param { num_output: 1000 } }
)", "inception");
  const nn::NetSpec net = nn::hash_head_on(inception, "gap", head_options(2));
  CHECK(find_layer(net, "fc") == nullptr);
  CHECK_THROWS_WITH_AS(nn::cut_at_blob(net, "b3", nn::Phase::Train, {4, 8, 8}), doctest::Contains("reads 'stem' from below the cut at 'b3'"), Error);

  nn::NetOptions o;
  o.seed = 9;
  nn::Net<float> whole(net, nn::Phase::Test, o);
  fill_uniform(whole.blob("data"), 4);
  whole.blob("label").data()[0] = 1;
  whole.blob("label").data()[1] = 2;
  ThreadPool pool(1);
  whole.forward({nn::Phase::Test, &pool, nullptr});
  const nn::NetCut cut = nn::cut_at_blob(net, "out", nn::Phase::Train, {14, 8, 8});
  CHECK(find_layer(cut.below, "out_relu") != nullptr);
  nn::Net<float> below(cut.below, nn::Phase::Test, {});
  nn::NetOptions two;
  two.input_shapes["out"] = {2, 14, 8, 8};
  nn::Net<float> above(cut.above, nn::Phase::Test, two);
  below.load_weights(whole.weights(), "whole");
  above.load_weights(whole.weights(), "whole");
  std::copy(whole.blob("data").data(), whole.blob("data").data() + whole.blob("data").count(), below.blob("data").data());
  below.forward({nn::Phase::Test, &pool, nullptr});
  std::copy(below.blob("out").data(), below.blob("out").data() + below.blob("out").count(), above.blob("out").data());
  std::copy(whole.blob("label").data(), whole.blob("label").data() + 2, above.blob("label").data());
  above.forward({nn::Phase::Test, &pool, nullptr});
  for (std::size_t i = 0; i < whole.blob("latent").count(); ++i) CHECK(above.blob("latent").data()[i] == whole.blob("latent").data()[i]);
}

TEST_CASE("transfer above a frozen part: the frozen weights stay bit for bit, the layers above learn the classes") {
  test::TempDir dir;
  const Backbone b = write_backbone(dir, 11, CaffeFormat::Current);
  const std::string &prototxt = b.prototxt, &weights = b.weights;
  const std::vector<nn::LayerWeights>& pretrained = b.pretrained;

  const ImageDataset train_images = coloured_images(40, 1), test_images = coloured_images(10, 2);
  const MemorySource source(train_images);
  TransferSpec t;
  t.backbone = prototxt;
  t.latent_after = "fc7";
  t.freeze_below = "pool1";
  t.resize = 0;  // the images are the net's size
  t.mean_values = std::vector<float>{128};
  t.scale = 1 / 64.0f;
  TrainConfig c;
  c.bits = 8;
  c.batch = 12;
  c.epochs = 15;
  c.lr = 0.01f;
  c.init = weights;
  c.show_progress = false;
  ThreadPool pool(2);
  const TrainResult r = train_transfer_model(source, t, c, pool);

  CHECK(r.model.frontend.feature_blob == "fc7");
  CHECK(r.model.frontend.transform.crop == 0);
  CHECK(weights_of(r.model.weights, "conv1").blobs[0].data == weights_of(pretrained, "conv1").blobs[0].data);
  CHECK(weights_of(r.model.weights, "conv1").blobs[1].data == weights_of(pretrained, "conv1").blobs[1].data);
  CHECK(weights_of(r.model.weights, "fc6").blobs[0].data != weights_of(pretrained, "fc6").blobs[0].data);
  CHECK(r.history.loss.back() < 0.5 * r.history.loss.front());

  // Codes of held-out images: nearer to their own class than to the others, on average.
  auto frontend = r.model.make_frontend(1);
  RowMatrixXf activations(Eigen::Index(test_images.size()), frontend->code_bits());
  frontend->encode(test_images.batch(0, test_images.size()), activations.data(), nullptr);
  const BitCodes codes = binarize(activations);
  double same = 0, other = 0;
  int n_same = 0, n_other = 0;
  for (std::size_t i = 0; i < codes.size(); ++i)
    for (std::size_t j = i + 1; j < codes.size(); ++j) {
      const int d = test::hamming(codes, i, codes, j);
      if (test_images.labels[i] == test_images.labels[j]) same += d, ++n_same; else other += d, ++n_other;
    }
  CHECK(same / n_same + 2 < other / n_other);

  // A deephash model is a backbone too: its own transformation, its hash layers replaced.
  const std::string model_file = (dir.path / "eight_bits.dhm").string();
  save_model(r.model, model_file);
  TransferSpec from_model;
  from_model.backbone = model_file;
  from_model.latent_after = from_model.freeze_below = "fc7";
  TrainConfig four_bits = c;
  four_bits.bits = 4;
  four_bits.init = model_file;
  const TrainResult r4 = train_transfer_model(source, from_model, four_bits, pool);
  CHECK(r4.model.frontend.transform.scale == r.model.frontend.transform.scale);
  CHECK(r4.model.frontend.transform.mean_values == r.model.frontend.transform.mean_values);
  CHECK(r4.model.make_frontend(1)->code_bits() == 4);
  CHECK(weights_of(r4.model.weights, "fc6").blobs[0].data == weights_of(r.model.weights, "fc6").blobs[0].data);

  // Freezing the new hash layers themselves is refused.
  TransferSpec frozen_latent = t;
  frozen_latent.freeze_below = "latent";
  CHECK_THROWS_WITH_AS(train_transfer_model(source, frozen_latent, c, pool), doctest::Contains("would freeze the new layer 'latent'"), Error);

  // Without the weights, or with a frozen blob the weights do not cover, it says what is missing.
  TrainConfig no_init = c;
  no_init.init.clear();
  CHECK_THROWS_WITH_AS(train_transfer_model(source, t, no_init, pool), doctest::Contains("--init"), Error);
  write_caffemodel(weights, parse_caffe_prototxt(kMiniNet, "MiniNet"), {weights_of(pretrained, "fc6")}, CaffeFormat::Current);
  CHECK_THROWS_WITH_AS(train_transfer_model(source, t, c, pool), doctest::Contains("no weights for layer 'conv1'"), Error);
}

TEST_CASE("transfer of the whole net starts from the pretrained weights") {
  test::TempDir dir;
  const Backbone b = write_backbone(dir, 5, CaffeFormat::V1);
  const std::string &prototxt = b.prototxt, &weights = b.weights;
  const std::vector<nn::LayerWeights>& pretrained = b.pretrained;
  const ImageDataset images = coloured_images(4, 3);
  TransferSpec t;
  t.backbone = prototxt;
  t.latent_after = "fc7";
  t.resize = 14;  // a random 12x12 crop of 14x14 while training
  TrainConfig c;
  c.bits = 8;
  c.batch = 6;
  c.epochs = 1;
  c.lr = 0.0f;  // nothing moves: what comes out is what was loaded
  c.weight_decay = 0;
  c.init = weights;
  c.show_progress = false;
  ThreadPool pool(1);
  const TrainResult r = train_transfer_model(MemorySource(images), t, c, pool);
  CHECK(r.model.frontend.transform.crop == 12);
  for (const char* layer : {"conv1", "fc6", "fc7"}) {
    CAPTURE(layer);
    CHECK(weights_of(r.model.weights, layer).blobs[0].data == weights_of(pretrained, layer).blobs[0].data);
  }
  for (const nn::LayerWeights& w : r.model.weights) CHECK(w.layer != "fc8");  // the backbone's classifier is gone
}
