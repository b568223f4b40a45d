// Networks as graphs of named blobs (splits, in-place layers, phases, pruning, weights), the
// solver's update rule and learning-rate policies, reproducible training, and the mirrored views
// the training loops show.
#include <doctest/doctest.h>

#include <deephash/nn/deploy.hpp>
#include <deephash/nn/frozen_features.hpp>
#include <deephash/nn/net_builder.hpp>
#include <deephash/nn/trainer.hpp>

#include "support.hpp"

using namespace deephash;
using namespace deephash::nn;

namespace {

// A small residual classifier: conv -> relu (in place) -> {conv2 -> relu, identity} -> sum ->
// latent -> classifier -> loss. The blob after relu1 feeds two layers, so a Split is inserted.
NetSpec residual_net(int batch) {
  NetBuilder b("residual");
  auto x = b.input("data", {batch, 2, 5, 5});
  b.input("label", {batch});
  x = b.relu(b.convolution("conv1", x, 3, 3, 1, 1, 1, gaussian_filler(0.5f)));
  auto y = b.relu(b.convolution("conv2", x, 3, 3, 1, 1, 1, gaussian_filler(0.5f)));
  auto s = b.eltwise_sum("sum", {x, y});
  auto l = b.latent("latent", s, 6, 0.3f, 0.2f);
  auto c = b.inner_product("classifier", l, 4, gaussian_filler(0.5f));
  b.softmax_loss("loss", c, "label");
  b.accuracy("accuracy", c, "label");
  b.only_in(Phase::Test);
  return b.spec();
}

template <class Scalar>
void fill_inputs(Net<Scalar>& net, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  auto& data = net.blob("data");
  for (std::size_t i = 0; i < data.count(); ++i) data.data()[i] = Scalar(g(rng));
  auto& label = net.blob("label");
  for (std::size_t i = 0; i < label.count(); ++i) label.data()[i] = Scalar(i % 4);
}

}  // namespace

TEST_CASE("whole-net gradients through a split, in-place layers and the SSDH loss match numerical ones") {
  Net<double> net(residual_net(3), Phase::Train);
  fill_inputs(net, 1);
  const RunContext ctx{Phase::Train};
  net.zero_param_diffs();
  net.forward(ctx);
  net.backward(ctx);
  double worst = 0;
  for (auto& p : net.learnable_params()) {
    std::vector<double> analytic(p.blob->diff(), p.blob->diff() + p.blob->count());
    for (std::size_t i = 0; i < p.blob->count(); i += 3) {
      const double saved = p.blob->data()[i];
      p.blob->data()[i] = saved + 1e-6;
      const double plus = net.forward(ctx);
      p.blob->data()[i] = saved - 1e-6;
      const double minus = net.forward(ctx);
      p.blob->data()[i] = saved;
      const double numeric = (plus - minus) / 2e-6;
      worst = std::max(worst, std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric)));
    }
  }
  CHECK(worst < 1e-6);
}

TEST_CASE("running layers in place or not gives the same outputs, and names resolve to the last version") {
  NetOptions separate;
  separate.allow_in_place = false;
  Net<double> a(residual_net(2), Phase::Test), b(residual_net(2), Phase::Test, separate);
  fill_inputs(a, 2);
  fill_inputs(b, 2);
  a.forward(RunContext{});
  b.forward(RunContext{});
  for (const char* name : {"conv1", "sum", "latent", "classifier", "accuracy"}) {
    INFO(name);
    REQUIRE(a.blob(name).count() == b.blob(name).count());
    for (std::size_t i = 0; i < a.blob(name).count(); ++i) CHECK(a.blob(name).data()[i] == doctest::Approx(b.blob(name).data()[i]));
  }
  // conv1 was rewritten in place by its ReLU: its name now means the ReLU's output.
  for (std::size_t i = 0; i < a.blob("conv1").count(); ++i) CHECK(a.blob("conv1").data()[i] >= 0);
  CHECK(a.has_blob("accuracy"));
  Net<double> train(residual_net(2), Phase::Train);
  CHECK_FALSE(train.has_blob("accuracy"));  // a test-only layer
}

TEST_CASE("pruning a training net to its latent output drops labels, losses and accuracy") {
  const NetSpec deploy = prune_for_outputs(residual_net(2), {"latent"}, Phase::Test);
  CHECK(deploy.inputs == std::vector<std::string>{"data"});
  std::vector<std::string> names;
  for (const auto& l : deploy.layers) names.push_back(l.name);
  CHECK(names == std::vector<std::string>{"conv1", "conv1_relu", "conv2", "conv2_relu", "sum", "latent"});
  CHECK(deploy.layers.back().tops.size() == 1);
  Net<float> net(deploy, Phase::Test);
  CHECK(net.blob("latent").shape() == std::vector<int>{2, 6});
  CHECK_THROWS_WITH_AS(prune_for_outputs(residual_net(2), {"fc7"}, Phase::Test), doctest::Contains("has no blob 'fc7'"), Error);
}

TEST_CASE("weights move between nets by layer name, in any shape with the same element count") {
  Net<float> a(residual_net(2), Phase::Train, NetOptions::seeded(11)), b(residual_net(2), Phase::Train, NetOptions::seeded(12));
  auto w = a.weights();
  w.push_back({"not_in_the_net", {{{3}, {1, 2, 3}}}});
  // An inner-product weight stored the old Caffe way, as 1 x 1 x out x in.
  for (auto& lw : w)
    if (lw.layer == "classifier") lw.blobs[0].shape = {1, 1, 4, 6};
  const auto loaded = b.load_weights(w, "weights.bin");
  CHECK(loaded.size() == 4);
  for (std::size_t i = 0; i < a.learnable_params().size(); ++i)
    CHECK(std::equal(a.learnable_params()[i].blob->data(), a.learnable_params()[i].blob->data() + a.learnable_params()[i].blob->count(),
                     b.learnable_params()[i].blob->data()));
  w[0].blobs[0].data.pop_back();
  CHECK_THROWS_WITH_AS(b.load_weights(w, "weights.bin"), doctest::Contains("weights.bin: layer 'conv1' blob 0"), Error);
}

TEST_CASE("net construction errors name the layer") {
  NetBuilder b("bad");
  b.input("data", {1, 3, 4, 4});
  b.convolution("conv", "nothing", 2, 3);
  CHECK_THROWS_WITH_AS(Net<float>(b.spec(), Phase::Train), doctest::Contains("layer 'conv': input blob 'nothing'"), Error);
  NetBuilder c("bad2");
  c.input("data", {1, 3, 4, 4});
  CHECK_THROWS_WITH_AS(c.last(), doctest::Contains("no layer has been added yet"), Error);
  c.convolution("conv", "data", 2, 3);
  c.last().tops = {"data"};  // a convolution cannot run in place
  CHECK_THROWS_WITH_AS(Net<float>(c.spec(), Phase::Train), doctest::Contains("cannot run in place"), Error);
}

TEST_CASE("SGD follows Caffe's update: momentum, weight decay and the multipliers") {
  NetBuilder b("tiny");
  b.input("data", {1, 1});
  b.input("label", {1});
  b.inner_product("fc", "data", 2, constant_filler(0.5f));
  b.params({{2.0f, 0.5f}, {1.0f, 0.0f}});
  b.softmax_loss("loss", "fc", "label");
  Net<double> net(b.spec(), Phase::Train);
  SolverSpec s;
  s.base_lr = 0.1f;
  s.momentum = 0.9f;
  s.weight_decay = 0.01f;
  SgdSolver<double> solver(net, s);
  net.blob("data").data()[0] = 1;
  net.blob("label").data()[0] = 0;
  double w = 0.5, v = 0;  // weight of class 0, tracked by hand
  for (int it = 0; it < 3; ++it) {
    net.forward(RunContext{});
    net.backward(RunContext{});
    const double g = net.learnable_params()[0].blob->diff()[0];
    v = 0.9 * v + 0.1 * 2.0 * (g + 0.01 * 0.5 * w);
    w -= v;
    solver.step();
    CHECK(net.learnable_params()[0].blob->data()[0] == doctest::Approx(w).epsilon(1e-9));
  }
  CHECK(solver.iteration() == 3);
}

TEST_CASE("learning-rate policies") {
  SolverSpec s;
  s.base_lr = 0.01f;
  s.gamma = 0.1f;
  s.lr_policy = "step";
  s.stepsize = 100;
  CHECK(learning_rate(s, 99) == doctest::Approx(0.01));
  CHECK(learning_rate(s, 100) == doctest::Approx(0.001));
  CHECK(learning_rate(s, 250) == doctest::Approx(0.0001));
  s.lr_policy = "multistep";
  s.stepvalue = {10, 30};
  CHECK(learning_rate(s, 9) == doctest::Approx(0.01));
  CHECK(learning_rate(s, 10) == doctest::Approx(0.001));
  CHECK(learning_rate(s, 30) == doctest::Approx(0.0001));
  s.lr_policy = "inv";
  s.gamma = 0.0001f;
  s.power = 0.75f;
  CHECK(learning_rate(s, 1000) == doctest::Approx(0.01 * std::pow(1.1, -0.75)));
  s.lr_policy = "fixed";
  CHECK(learning_rate(s, 12345) == doctest::Approx(0.01));
  s.lr_policy = "onecycle";
  s.max_iter = 1000;
  CHECK(learning_rate(s, 0) == doctest::Approx(0.01 / 25));
  CHECK(learning_rate(s, 300) == doctest::Approx(0.01));
  CHECK(learning_rate(s, 1000) == doctest::Approx(0.01 / 1e4));
  s.lr_policy = "sometimes";
  CHECK_THROWS_WITH_AS(learning_rate(s, 0), doctest::Contains("unknown lr_policy 'sometimes'"), Error);
}

TEST_CASE("training is reproducible for a seed and thread count, and learns") {
  ImageDataset images;
  images.height = images.width = 5;
  images.channels = 2;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 64; ++i) {
    images.labels.push_back(i % 4);
    for (int p = 0; p < 50; ++p) images.pixels.push_back(std::uint8_t((i % 4) * 60 + int(rng() % 20)));
  }
  auto run = [&](std::uint64_t seed) {
    Net<float> net(residual_net(8), Phase::Train, NetOptions::seeded(seed));
    SolverSpec s;
    s.base_lr = 0.05f;
    SgdSolver<float> solver(net, s);
    TrainOptions o;
    o.batch_size = 8;
    o.seed = seed;
    o.transform.scale = 1 / 255.0f;
    o.show_progress = false;
    ThreadPool pool(2);
    const TrainingHistory h = train(net, solver, images, o, 60, pool);
    return std::make_pair(net.weights(), h);
  };
  const auto [w1, h1] = run(5);
  const auto [w2, h2] = run(5);
  const auto [w3, h3] = run(6);
  CHECK(w1[0].blobs[0].data == w2[0].blobs[0].data);
  CHECK(w1[0].blobs[0].data != w3[0].blobs[0].data);
  CHECK(h1.loss.back() < 0.5 * h1.loss.front());
}

TEST_CASE("in-place chains: BatchNorm -> Scale -> ReLU and fan-outs keep exact gradients") {
  NetBuilder b("bn");
  auto x = b.input("data", {4, 2, 4, 4});
  b.input("label", {4});
  x = b.convolution("conv1", x, 3, 3, 1, 1, 1, gaussian_filler(0.5f));
  x = b.relu(b.batch_norm(x));
  auto y = b.sigmoid(b.convolution("conv2", x, 3, 1, 1, 0, 1, gaussian_filler(0.5f)));
  b.dropout(y, 0.3f);  // in place after the sigmoid: the sigmoid must keep its own output
  auto s = b.eltwise_sum("sum", {x, y});
  auto p = b.max_pool("pool", s, 2, 2);
  auto c = b.inner_product("classifier", p, 4, gaussian_filler(0.5f));
  b.softmax_loss("loss", c, "label");
  Net<double> net(b.spec(), Phase::Train);
  fill_inputs(net, 3);
  std::mt19937_64 rng;
  auto run = [&] {
    rng.seed(9);  // the same dropout mask every time
    return net.forward(RunContext{Phase::Train, nullptr, &rng});
  };
  net.zero_param_diffs();
  run();
  rng.seed(9);
  net.backward(RunContext{Phase::Train, nullptr, &rng});
  double worst = 0;
  for (auto& prm : net.learnable_params()) {
    std::vector<double> analytic(prm.blob->diff(), prm.blob->diff() + prm.blob->count());
    for (std::size_t i = 0; i < prm.blob->count(); ++i) {
      const double saved = prm.blob->data()[i];
      prm.blob->data()[i] = saved + 1e-6;
      const double plus = run();
      prm.blob->data()[i] = saved - 1e-6;
      const double minus = run();
      prm.blob->data()[i] = saved;
      worst = std::max(worst, std::abs((plus - minus) / 2e-6 - analytic[i]) / std::max(1.0, std::abs(analytic[i])));
    }
  }
  CHECK(worst < 1e-5);
}

TEST_CASE("with in-place layers kept apart, every output of an in-place chain stays visible") {
  NetBuilder b("chain");
  auto x = b.input("data", {1, 2});
  x = b.inner_product("ip", x, 2);
  x = b.relu(x);           // in place on "ip"
  x = b.dropout(x, 0.5f);  // in place on "ip" again
  NetOptions o;
  o.allow_in_place = false;
  Net<float> net(b.spec(), Phase::Test, o);
  net.load_weights({{"ip", {{{2, 2}, {-1, 0, 0, -1}}, {{2}, {0, 0}}}}}, "test");
  net.blob("data").data()[0] = 1;
  net.blob("data").data()[1] = 2;
  net.forward(RunContext{});
  CHECK(net.layer_outputs(0)[0]->data()[0] == -1);
  CHECK(net.layer_outputs(0)[0]->data()[1] == -2);
  CHECK(net.layer_outputs(1)[0]->data()[0] == 0);
}

namespace {

// Whether each image was shown mirrored, epoch by epoch (views[image][epoch]: 0 as it is, 1
// mirrored, -1 not shown), read back from the net's input after every step. `identify` maps a
// sample's input values to (image, view).
template <class Identify>
std::vector<std::vector<int>> shown_views(Net<float>& net, std::size_t images, int batch, int epochs,
                                          const Identify& identify,
                                          const std::function<void(const std::function<void(int)>&)>& run) {
  std::vector<std::vector<int>> views(images, std::vector<int>(std::size_t(epochs), -1));
  run([&](int iteration) {
    const Blob<float>& data = net.blob("data");
    const std::size_t per = data.count() / std::size_t(batch);
    for (int b = 0; b < batch; ++b) {
      const std::size_t epoch = (std::size_t(iteration - 1) * std::size_t(batch) + std::size_t(b)) / images;
      const auto [image, view] = identify(data.data() + std::size_t(b) * per);
      REQUIRE(image < images);
      REQUIRE(epoch < std::size_t(epochs));
      CHECK(views[image][epoch] == -1);  // each image once per epoch
      views[image][epoch] = view;
    }
  });
  return views;
}

// True when every image was shown in every epoch and mirrored in exactly every other one.
bool alternates(const std::vector<std::vector<int>>& views) {
  for (const auto& v : views)
    for (std::size_t e = 0; e < v.size(); ++e)
      if (v[e] < 0 || (e > 0 && v[e] == v[e - 1])) return false;
  return true;
}

std::size_t mirrored_in_first_epoch(const std::vector<std::vector<int>>& views) {
  std::size_t n = 0;
  for (const auto& v : views) n += v[0] == 1;
  return n;
}

}  // namespace

TEST_CASE("alternating mirrors: every training image is shown mirrored in every other epoch") {
  // 20 images of distinct random pixels, batches of 8 that straddle the epochs: 4 epochs in 10 steps.
  const std::size_t n = 20;
  const int batch = 8, epochs = 4, steps = 10;
  ImageDataset images;
  images.height = images.width = 5;
  images.channels = 2;
  std::mt19937_64 rng(11);
  for (std::size_t i = 0; i < n; ++i) {
    images.labels.push_back(int(i % 4));
    for (int p = 0; p < 50; ++p) images.pixels.push_back(std::uint8_t(rng() % 256));
  }
  // The input of a sample is an image or its mirror image (no crop, no shift, scale 1).
  auto identify = [&](const float* in) {
    for (std::size_t i = 0; i < n; ++i)
      for (int view = 0; view < 2; ++view) {
        bool same = true;
        for (int c = 0; c < 2 && same; ++c)
          for (int y = 0; y < 5 && same; ++y)
            for (int x = 0; x < 5 && same; ++x)
              same = in[(c * 5 + y) * 5 + x] == float(images.image(i)[(y * 5 + (view ? 4 - x : x)) * 2 + c]);
        if (same) return std::make_pair(i, view);
      }
    return std::make_pair(n, 0);
  };
  auto views_with = [&](Mirror mirror, std::uint64_t seed) {
    Net<float> net(residual_net(batch), Phase::Train, NetOptions::seeded(1));
    SgdSolver<float> solver(net, SolverSpec{});
    TrainOptions o;
    o.batch_size = batch;
    o.seed = seed;
    o.transform.mirror = mirror;
    o.show_progress = false;
    ThreadPool pool(2);
    return shown_views(net, n, batch, epochs, identify, [&](const std::function<void(int)>& after_step) {
      train(net, solver, images, o, steps, pool, "train", after_step);
    });
  };
  for (std::uint64_t seed : {1, 2, 3}) {
    const auto views = views_with(Mirror::alternating, seed);
    CHECK(alternates(views));
    const std::size_t first = mirrored_in_first_epoch(views);
    CHECK(first >= 4);  // a draw per image: about half
    CHECK(first <= 16);
  }
  CHECK(views_with(Mirror::alternating, 1) != views_with(Mirror::alternating, 2));
  // Random mirrors repeat a view in consecutive epochs (all 60 changes alternating: 2^-60).
  CHECK_FALSE(alternates(views_with(Mirror::random, 1)));
  for (const auto& v : views_with(Mirror::none, 1))
    for (int view : v) CHECK(view == 0);

  // Above a frozen part the views are stored; image i's view v starts with the value 2 i + v.
  FrozenFeatures features;
  features.item_shape = {2, 5, 5};
  features.item_size = 50;
  features.values.assign(2 * n * 50, 0.5f);
  for (std::size_t i = 0; i < n; ++i) {
    features.labels.push_back(int(i % 4));
    for (int view = 0; view < 2; ++view) features.values[(2 * i + std::size_t(view)) * 50] = float(2 * i + std::size_t(view));
  }
  auto stored_view = [&](const float* in) { return std::make_pair(std::size_t(in[0]) / 2, int(in[0]) % 2); };
  for (Mirror mirror : {Mirror::alternating, Mirror::random}) {
    Net<float> net(residual_net(batch), Phase::Train, NetOptions::seeded(1));
    SgdSolver<float> solver(net, SolverSpec{});
    TrainOptions o;
    o.batch_size = batch;
    o.transform.mirror = mirror;
    o.show_progress = false;
    ThreadPool pool(2);
    const auto views = shown_views(net, n, batch, epochs, stored_view, [&](const std::function<void(int)>& after_step) {
      train_on_features(net, solver, features, o, steps, pool, "train", after_step);
    });
    CHECK(alternates(views) == (mirror == Mirror::alternating));
  }
}
