// Seed corpora for the fuzz targets: small valid files of every kind, written by deephash's own
// writers (and, for formats it only reads, by the few lines below), one folder per target.
//
//   make_fuzz_corpus DIR   ->   DIR/idx/..., DIR/gzip/..., DIR/cifar/..., ...

#include <stb_image_write.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <deephash/core/checksum.hpp>
#include <deephash/data/image_decode.hpp>
#include <deephash/io/caffe/prototxt.hpp>
#include <deephash/io/caffe/caffemodel.hpp>
#include <deephash/io/container/codes_file.hpp>
#include <deephash/io/container/index_file.hpp>
#include <deephash/io/container/model_file.hpp>
#include <deephash/nn/architectures.hpp>
#include <deephash/nn/deploy.hpp>
#include <deephash/nn/net.hpp>

// stb_image_write's deflate, exported by Debian's libstb but declared only in its implementation.
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len, int quality);

using namespace deephash;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}
void put(const std::string& target, const std::string& name, const std::string& text) { put(target, name, Bytes(text.begin(), text.end())); }

void le32(Bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(std::uint8_t(v >> (8 * i)));
}

// A gzip member holding `plain`, compressed by stb's deflate (its zlib stream without the 2-byte
// header and the 4-byte Adler trailer is the raw deflate data gzip wants).
Bytes gzip(const Bytes& plain) {
  int length = 0;
  unsigned char* z = stbi_zlib_compress(const_cast<unsigned char*>(plain.data()), int(plain.size()), &length, 8);
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
  out.insert(out.end(), z + 2, z + length - 4);
  std::free(z);
  le32(out, crc32(plain.data(), plain.size()));
  le32(out, std::uint32_t(plain.size()));
  return out;
}

Bytes idx(std::vector<std::uint32_t> dims, std::size_t values) {
  Bytes b = {0, 0, 0x08, std::uint8_t(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(d >> s));
  for (std::size_t i = 0; i < values; ++i) b.push_back(std::uint8_t(i * 37));
  return b;
}

// One ustar entry: 512-byte header with its checksum, then the data padded to 512.
void tar_entry(Bytes& tar, const std::string& name, const Bytes& data) {
  Bytes h(512, 0);
  std::copy(name.begin(), name.end(), h.begin());
  std::snprintf(reinterpret_cast<char*>(&h[100]), 8, "%07o", 0644);
  std::snprintf(reinterpret_cast<char*>(&h[124]), 12, "%011o", unsigned(data.size()));
  std::snprintf(reinterpret_cast<char*>(&h[136]), 12, "%011o", 0u);
  h[156] = '0';
  std::copy_n("ustar", 6, reinterpret_cast<char*>(&h[257]));
  h[263] = '0';
  h[264] = '0';
  std::fill(h.begin() + 148, h.begin() + 156, ' ');
  unsigned sum = 0;
  for (std::uint8_t c : h) sum += c;
  std::snprintf(reinterpret_cast<char*>(&h[148]), 8, "%06o", sum);
  tar.insert(tar.end(), h.begin(), h.end());
  tar.insert(tar.end(), data.begin(), data.end());
  tar.resize((tar.size() + 511) / 512 * 512, 0);
}

Bytes file_bytes(const fs::path& p) { return read_file_bytes(p.string()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  fs::create_directories(root);
  const fs::path scratch = root / ".scratch";
  fs::create_directories(scratch);

  put("idx", "images", idx({3, 4, 4}, 48));
  put("idx", "labels", idx({3}, 3));
  put("idx", "images.gz", gzip(idx({2, 3, 3}, 18)));
  put("gzip", "text.gz", gzip(Bytes(100, 'a')));
  put("gzip", "two-members.gz", [] {
    Bytes b = gzip(Bytes{1, 2, 3});
    const Bytes c = gzip(Bytes(300, 7));
    b.insert(b.end(), c.begin(), c.end());
    return b;
  }());
  Bytes cifar;
  for (int r = 0; r < 2; ++r) {
    cifar.push_back(std::uint8_t(r * 3));
    for (int i = 0; i < 3072; ++i) cifar.push_back(std::uint8_t(i + r));
  }
  put("cifar", "batch.bin", cifar);

  Image img{5, 7, 3, {}};
  for (int i = 0; i < 5 * 7 * 3; ++i) img.pixels.push_back(std::uint8_t(i * 11));
  const Bytes png = encode_png(img);
  put("image", "rgb.png", png);
  put("image", "gray.png", encode_png(Image{4, 4, 1, Bytes(16, 128)}));
  Bytes jpeg;
  stbi_write_jpg_to_func([](void* ctx, void* d, int n) { auto* out = static_cast<Bytes*>(ctx); out->insert(out->end(), static_cast<std::uint8_t*>(d), static_cast<std::uint8_t*>(d) + n); },
                         &jpeg, img.width, img.height, 3, img.pixels.data(), 80);
  put("image", "rgb.jpg", jpeg);

  Bytes tar;
  tar_entry(tar, "train/cat/0000.png", png);
  tar_entry(tar, "train/dog/0000.jpg", jpeg);
  tar.resize(tar.size() + 1024, 0);
  put("tar", "images.tar", tar);
  put("tar", "images.tar.gz", gzip(tar));

  put("list", "list.txt", std::string("cat/0.png 0\ndog/1.jpg 1\r\n\n  with space/2.png   2\n"));

  nn::ArchitectureOptions o;
  o.bits = 8;
  o.batch = 2;
  const nn::NetSpec fm = nn::fashion_mnist_net(o), kevin = nn::kevin_net(o);
  put("prototxt", "fashion_mnist.prototxt", write_caffe_prototxt(fm));
  put("prototxt", "kevinnet.prototxt", write_caffe_prototxt(kevin));
  put("prototxt", "kevinnet_v1.prototxt", write_caffe_prototxt(nn::prune_for_outputs(kevin, {"fc8_kevin_encode"}, nn::Phase::Test), CaffeFormat::V1));

  // A small net with weights, in both Caffe formats.
  nn::NetBuilder b("tiny");
  b.input("data", {1, 2, 6, 6});
  b.relu(b.convolution("conv", "data", 3, 3, 1, 1));
  b.max_pool("pool", "conv", 2, 2);
  b.inner_product("fc", "pool", 4);
  nn::Net<float> tiny(b.spec(), nn::Phase::Test);
  for (auto format : {CaffeFormat::Current, CaffeFormat::V1}) {
    const fs::path p = scratch / "tiny.caffemodel";
    write_caffemodel(p.string(), b.spec(), tiny.weights(), format);
    put("caffemodel", format == CaffeFormat::V1 ? "tiny_v1.caffemodel" : "tiny.caffemodel", file_bytes(p));
  }

  HammingIndex index(20, 1);
  BitCodes codes(9, 20);
  for (std::size_t i = 0; i < 9; ++i) codes.code(i)[0] = i * 0x9E37;
  index.add(codes);
  save_index(index, (scratch / "i").string());
  put("index", "index.dhx", file_bytes(scratch / "i"));

  HashingModel model;
  model.net = b.spec();
  model.weights = tiny.weights();
  model.frontend.latent_blob = "fc";
  model.frontend.input_shape = {2, 6, 6};
  model.frontend.transform.mean_values = {1, 2};
  model.class_names = {"a", "b"};
  save_model(model, (scratch / "m").string());
  put("model", "model.dhm", file_bytes(scratch / "m"));
  TrainingSnapshot snap{model, nn::SolverSpec{}, 3, 7, 2, {{1, 2}, {3}}};
  save_snapshot(snap, (scratch / "s").string());
  put("snapshot", "snapshot.snap", file_bytes(scratch / "s"));

  EncodedSet set;
  set.codes = codes;
  set.labels = {0, 1, 0, 1, 0, 1, 0, 1, 0};
  set.class_names = {"a", "b"};
  set.paths = {"0", "1", "2", "3", "4", "5", "6", "7", "8"};
  set.features = RowMatrixXf::Ones(9, 2);
  save_encoded_set(set, (scratch / "c").string());
  put("codes", "codes.dhc", file_bytes(scratch / "c"));

  fs::remove_all(scratch);
  std::printf("wrote seed corpora to %s\n", root.string().c_str());
}
