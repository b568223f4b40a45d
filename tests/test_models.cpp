// Model files, encoded sets and training snapshots: round trips, damage, and a resumed run that
// ends exactly where an uninterrupted one does.
#include <doctest/doctest.h>

#include <tuple>

#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/nn/architectures.hpp>

#include <deephash/workflow/holdout.hpp>

#include "support.hpp"

using namespace deephash;
using namespace deephash::nn;
using test::TempDir;

namespace {

HashingModel small_model() {
  ArchitectureOptions o;
  o.bits = 16;
  o.batch = 4;
  HashingModel m;
  m.net = fashion_mnist_net(o);
  Net<float> net(m.net, Phase::Train);
  // Running statistics as a trained net has them (variance 1), not the empty ones of a new net,
  // whose normalisation would blow activations up by 1 / sqrt(eps) per layer.
  for (std::size_t i = 0; i < net.num_layers(); ++i)
    if (net.layer(i).type() == "BatchNorm") {
      net.layer(i).params()[1]->data_vector().setOnes();
      net.layer(i).params()[2]->data()[0] = 1;
    }
  m.weights = net.weights();
  m.frontend.input_shape = {1, 28, 28};
  m.frontend.feature_blob = "fc1";
  m.frontend.transform.mean_values = {72.94f};
  m.frontend.transform.scale = 1 / 90.0f;
  m.frontend.transform.pad = 2;
  m.frontend.transform.mirror = Mirror::random;
  m.class_names = {"a", "b", "c"};
  m.description = "test model";
  return m;
}

ImageDataset tiny_images(std::size_t n) {
  ImageDataset d;
  d.height = d.width = 28;
  d.channels = 1;
  std::mt19937_64 rng(1);
  for (std::size_t i = 0; i < n; ++i) {
    d.labels.push_back(int(i % 10));
    for (int p = 0; p < 28 * 28; ++p) d.pixels.push_back(std::uint8_t((i % 10) * 20 + rng() % 40));
  }
  return d;
}

}  // namespace

TEST_CASE("a model file keeps the network, weights, transformation and names, and encodes the same") {
  TempDir dir;
  const HashingModel m = small_model();
  save_model(m, dir.file("m.dhm"));
  const HashingModel back = load_model(dir.file("m.dhm"));
  CHECK(back.net.layers.size() == m.net.layers.size());
  CHECK(back.class_names == m.class_names);
  CHECK(back.description == m.description);
  CHECK(back.frontend.transform.mean_values == m.frontend.transform.mean_values);
  CHECK(back.frontend.transform.pad == 2);
  CHECK(back.frontend.transform.mirror == Mirror::random);
  CHECK(back.frontend.feature_blob == "fc1");
  REQUIRE(back.weights.size() == m.weights.size());
  for (std::size_t i = 0; i < m.weights.size(); ++i) CHECK(back.weights[i].blobs[0].data == m.weights[i].blobs[0].data);

  const ImageDataset images = tiny_images(7);
  auto a = m.make_frontend(1), b = back.make_frontend(2);
  CHECK(a->code_bits() == 16);
  CHECK(a->feature_dim() == 256);
  const EncodedImages ea = encode_images(*a, images.all(), true, 3, "a", false),
                      eb = encode_images(*b, images.all(), true, 5, "b", false);
  CHECK(ea.codes == eb.codes);
  CHECK((ea.activations - eb.activations).cwiseAbs().maxCoeff() < 1e-5f);
  CHECK((ea.features - eb.features).cwiseAbs().maxCoeff() <= 1e-5f * ea.features.cwiseAbs().maxCoeff());
  CHECK(ea.features.cwiseAbs().maxCoeff() > 0);

  HashingModel alternating = m;
  alternating.frontend.transform.mirror = Mirror::alternating;
  save_model(alternating, dir.file("alternating.dhm"));
  CHECK(load_model(dir.file("alternating.dhm")).frontend.transform.mirror == Mirror::alternating);
}

TEST_CASE("flip averaging: an image's activations are the mean of its own and its mirror image's") {
  TempDir dir;
  HashingModel m = small_model();
  const ImageDataset images = tiny_images(5);
  ImageDataset mirrored = images;
  for (std::size_t i = 0; i < images.size(); ++i)
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x)
        mirrored.pixels[(i * 28 + std::size_t(y)) * 28 + std::size_t(x)] = images.pixels[(i * 28 + std::size_t(y)) * 28 + std::size_t(27 - x)];
  const EncodedImages plain = encode_images(*m.make_frontend(1), images.all(), true, 5, "plain", false);
  const EncodedImages flipped = encode_images(*m.make_frontend(1), mirrored.all(), true, 5, "mirrored", false);
  m.frontend.flip_average = true;
  save_model(m, dir.file("flip.dhm"));
  const HashingModel back = load_model(dir.file("flip.dhm"));
  CHECK(back.frontend.flip_average);
  const EncodedImages averaged = encode_images(*back.make_frontend(2), images.all(), true, 3, "averaged", false);
  CHECK((averaged.activations - (plain.activations + flipped.activations) / 2).cwiseAbs().maxCoeff() < 1e-5f);
  CHECK((averaged.features - (plain.features + flipped.features) / 2).cwiseAbs().maxCoeff() <=
        1e-5f * plain.features.cwiseAbs().maxCoeff());
  CHECK((plain.activations - flipped.activations).cwiseAbs().maxCoeff() > 1e-3f);  // the mirror changes something

  // A version 1 file (before the flag) still reads, without flip averaging.
  ByteWriter v1;
  deephash::detail::write_model(v1, m, 1);
  save_container(dir.file("v1.dhm"), kModelFileKind, 1, v1);
  const HashingModel old = load_model(dir.file("v1.dhm"));
  CHECK_FALSE(old.frontend.flip_average);
  CHECK(old.weights.size() == m.weights.size());
}

TEST_CASE("shift averaging: the image in place weighs a half, shifted up-left and down-right a quarter each") {
  TempDir dir;
  const HashingModel plain_model = small_model();
  const ImageDataset images = tiny_images(5);
  // The oracle moves the stored pixels (black where the shift brings in the outside) and mirrors
  // them, and encodes each of the six images plainly.
  auto moved = [&](int dy, int dx, bool mirror) {
    ImageDataset out = images;
    for (std::size_t i = 0; i < images.size(); ++i)
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          const int sy = y + dy, sx = (mirror ? 27 - x : x) + dx;
          out.pixels[(i * 28 + std::size_t(y)) * 28 + std::size_t(x)] =
              sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? images.pixels[(i * 28 + std::size_t(sy)) * 28 + std::size_t(sx)] : 0;
        }
    return encode_images(*plain_model.make_frontend(1), out.all(), true, 5, "moved", false);
  };
  EncodedImages expected = moved(0, 0, false);
  expected.activations *= 0.25f;
  expected.features *= 0.25f;
  for (auto [dy, mirror, weight] : {std::tuple{0, true, 0.25f}, {-2, false, 0.125f}, {-2, true, 0.125f}, {2, false, 0.125f},
                                    {2, true, 0.125f}}) {
    const EncodedImages e = moved(dy, dy, mirror);
    expected.activations += weight * e.activations;
    expected.features += weight * e.features;
  }
  HashingModel m = plain_model;
  m.frontend.flip_average = true;
  m.frontend.shift_average = 2;
  save_model(m, dir.file("shift.dhm"));
  const HashingModel back = load_model(dir.file("shift.dhm"));
  CHECK(back.frontend.shift_average == 2);
  const EncodedImages averaged = encode_images(*back.make_frontend(2), images.all(), true, 3, "averaged", false);
  CHECK((averaged.activations - expected.activations).cwiseAbs().maxCoeff() < 1e-5f);
  CHECK((averaged.features - expected.features).cwiseAbs().maxCoeff() <= 1e-5f * expected.features.cwiseAbs().maxCoeff());
  const EncodedImages plain = moved(0, 0, false);
  CHECK((plain.activations - averaged.activations).cwiseAbs().maxCoeff() > 1e-3f);  // the views change something

  // The CLI's text for it (deephash eval --tta).
  FrontendSpec f;
  set_test_augmentation(f, "flip+shift:2", "--tta");
  CHECK((f.flip_average && f.shift_average == 2));
  set_test_augmentation(f, "shift:1", "--tta");
  CHECK((!f.flip_average && f.shift_average == 1));
  set_test_augmentation(f, "none", "--tta");
  CHECK((!f.flip_average && f.shift_average == 0));
  for (const char* bad : {"", "flip+", "flip+flip", "shift:0", "shift:", "shift:-1", "shift:x", "mirror", "shift:123456789"})
    CHECK_THROWS_WITH(set_test_augmentation(f, bad, "--tta"), doctest::Contains("is not a test-time augmentation"));

  // A version 2 file (before the shift) still reads, without it; a hostile shift is refused.
  ByteWriter v2;
  deephash::detail::write_model(v2, m, 2);
  save_container(dir.file("v2.dhm"), kModelFileKind, 2, v2);
  CHECK(load_model(dir.file("v2.dhm")).frontend.shift_average == 0);
  CHECK(load_model(dir.file("v2.dhm")).frontend.flip_average);
  m.frontend.shift_average = 28;
  save_model(m, dir.file("hostile.dhm"));
  CHECK_THROWS_WITH(load_model(dir.file("hostile.dhm")), doctest::Contains("test-time shift of 28 pixels"));
}

TEST_CASE("CnnFrontend encodes a batch view where it lies, as it encodes each image on its own") {
  const HashingModel m = small_model();
  const ImageDataset images = tiny_images(9);
  auto frontend = m.make_frontend(2);
  const std::size_t bits = std::size_t(frontend->code_bits()), dim = std::size_t(frontend->feature_dim());
  // A slice from the middle of the set: the view's offset must select the images, not a copy.
  const ImageBatchView middle = images.batch(2, 7);
  std::vector<float> activations(middle.count * bits), features(middle.count * dim);
  frontend->encode(middle, activations.data(), features.data());
  for (std::size_t i = 0; i < middle.count; ++i) {
    std::vector<float> one(bits), one_features(dim);
    frontend->encode(ImageBatchView::single(images.view(2 + i)), one.data(), one_features.data());
    for (std::size_t b = 0; b < bits; ++b) CHECK(activations[i * bits + b] == doctest::Approx(one[b]).epsilon(1e-5));
    for (std::size_t f = 0; f < dim; ++f)
      CHECK(features[i * dim + f] == doctest::Approx(one_features[f]).epsilon(1e-4).scale(1));
  }
  // encode_images over the whole set agrees with the slice.
  const EncodedImages all = encode_images(*frontend, images.all(), true, 4, "all", false);
  for (std::size_t i = 0; i < middle.count; ++i)
    for (std::size_t b = 0; b < bits; ++b)
      CHECK(all.activations(Eigen::Index(2 + i), Eigen::Index(b)) == doctest::Approx(activations[i * bits + b]).epsilon(1e-5));
}

TEST_CASE("damaged model and codes files are refused with the file's name") {
  TempDir dir;
  save_model(small_model(), dir.file("m.dhm"));
  auto bytes = read_file_bytes(dir.file("m.dhm"));
  bytes.resize(bytes.size() / 2);
  write_file_atomically(dir.file("half.dhm"), bytes);
  const std::string msg = test::error_message([&] { load_model(dir.file("half.dhm")); });
  CHECK(msg.find(dir.file("half.dhm")) == 0);
  CHECK(msg.find("truncated") != std::string::npos);
  CHECK_THROWS_WITH_AS(load_encoded_set(dir.file("m.dhm")), doctest::Contains("is a deephash 'MODL' file, not a deephash CODE file"), Error);
}

TEST_CASE("an encoded set round-trips with labels, locators, provenance and features") {
  TempDir dir;
  EncodedSet s;
  s.codes = test::random_codes(5, 20, 3);
  s.labels = {0, 1, 2, 1, 0};
  s.class_names = {"x", "y", "z"};
  s.source = "folder:photos";
  s.role = "database";
  s.holdout = HoldOutRule{}.describe();
  s.paths = {"a.png", "b.png", "c.png", "d.png", "e.png"};
  s.features = RowMatrixXf::Random(5, 3);
  save_encoded_set(s, dir.file("s.dhc"));
  const EncodedSet t = load_encoded_set(dir.file("s.dhc"));
  CHECK(t.codes == s.codes);
  CHECK(t.labels == s.labels);
  CHECK(t.paths == s.paths);
  CHECK(t.class_names == s.class_names);
  CHECK(t.features == s.features);
  CHECK(t.source == s.source);
  CHECK(t.role == s.role);
  CHECK(t.holdout == s.holdout);
  s.labels.pop_back();
  CHECK_THROWS_WITH_AS(save_encoded_set(s, dir.file("bad.dhc")), doctest::Contains("inconsistent encoded set"), Error);
}

TEST_CASE("an encoded set streamed in uneven pieces equals one saved whole, across several chunks") {
  TempDir dir;
  const std::size_t n = 2500;  // chunks of 1024: two whole, one partial
  EncodedSet whole;
  whole.codes = test::random_codes(n, 70, 11);
  whole.features = RowMatrixXf::Random(Eigen::Index(n), 6);
  for (std::size_t i = 0; i < n; ++i) {
    whole.labels.push_back(int(i % 7));
    whole.paths.push_back("img" + std::to_string(i) + ".jpg");
  }
  whole.source = "list:l.txt:.";
  whole.role = "all";
  save_encoded_set(whole, dir.file("whole.dhc"));

  EncodedSet header = whole;
  header.codes = BitCodes(0, 70);
  header.features.resize(0, 0);
  {
    EncodedSetWriter writer(dir.file("streamed.dhc"), header, n, 6);
    for (std::size_t i = 0; i < n;) {
      const std::size_t k = std::min<std::size_t>(n - i, 1 + (i * 7919) % 700);
      writer.append(whole.codes.slice(i, i + k), whole.features.middleRows(Eigen::Index(i), Eigen::Index(k)));
      i += k;
    }
    CHECK_FALSE(std::filesystem::exists(dir.file("streamed.dhc")));  // nothing before commit
    writer.commit();
  }
  CHECK(read_file_bytes(dir.file("streamed.dhc")) == read_file_bytes(dir.file("whole.dhc")));
  const EncodedSet t = load_encoded_set(dir.file("streamed.dhc"));
  CHECK(t.codes == whole.codes);
  CHECK(t.features == whole.features);

  // A writer given fewer images than it declared leaves no file.
  {
    EncodedSetWriter writer(dir.file("short.dhc"), header, n, 6);
    writer.append(whole.codes.slice(0, 10), whole.features.topRows(10));
    CHECK_THROWS_WITH_AS(writer.commit(), doctest::Contains("10 of the 2500 images declared were written"), Error);
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("short.dhc")));
}

TEST_CASE("a run resumed from a snapshot ends exactly where the uninterrupted run does") {
  TempDir dir;
  const HashingModel m = small_model();
  const ImageDataset images = tiny_images(24);
  SolverSpec s;
  s.base_lr = 0.05f;
  s.lr_policy = "onecycle";
  s.max_iter = 10;
  TrainOptions o;
  o.batch_size = 4;
  o.seed = 7;
  o.transform = m.frontend.transform;
  o.show_progress = false;
  ThreadPool pool(2);

  Net<float> whole(m.net, Phase::Train, NetOptions::seeded(3));
  SgdSolver<float> whole_solver(whole, s);
  train(whole, whole_solver, images, o, 10, pool);

  Net<float> first(m.net, Phase::Train, NetOptions::seeded(3));
  SgdSolver<float> first_solver(first, s);
  train(first, first_solver, images, o, 4, pool);
  TrainingSnapshot snap{m, s, first_solver.iteration(), o.seed, o.batch_size, first_solver.history()};
  snap.model.weights = first.weights();
  save_snapshot(snap, dir.file("run.snap"));

  const TrainingSnapshot back = load_snapshot(dir.file("run.snap"));
  CHECK(back.iteration == 4);
  CHECK(back.solver.lr_policy == "onecycle");
  CHECK(back.solver.base_lr == doctest::Approx(0.05f));
  Net<float> resumed(back.model.net, Phase::Train, NetOptions::seeded(99));  // initialisation is overwritten
  resumed.load_weights(back.model.weights, "snapshot");
  SgdSolver<float> resumed_solver(resumed, back.solver);
  resumed_solver.restore(back.iteration, back.history);
  train(resumed, resumed_solver, images, o, 10, pool);

  const auto a = whole.weights(), b = resumed.weights();
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].blobs.size(); ++j) CHECK(a[i].blobs[j].data == b[i].blobs[j].data);
}
