// Seed corpora for the fuzz targets: small valid files of every kind, written by deephash's own
// writers (and, for formats it only reads, by the few lines below), one folder per target.
//
//   make_fuzz_corpus DIR   ->   DIR/idx/..., DIR/gzip/..., DIR/cifar/..., ...

#include <stb_image_write.h>

#include <algorithm>
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
void tar_entry(Bytes& tar, const std::string& name, const Bytes& data, char type = '0') {
  Bytes h(512, 0);
  std::copy(name.begin(), name.end(), h.begin());
  std::snprintf(reinterpret_cast<char*>(&h[100]), 8, "%07o", 0644);
  std::snprintf(reinterpret_cast<char*>(&h[124]), 12, "%011o", unsigned(data.size()));
  std::snprintf(reinterpret_cast<char*>(&h[136]), 12, "%011o", 0u);
  h[156] = std::uint8_t(type);
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

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A gzip member of stored (uncompressed) deflate blocks of at most `block` bytes each: stb's
// compressor writes only fixed-Huffman blocks, and the streaming inflater copies stored blocks
// by another path.
Bytes gzip_stored(const Bytes& plain, std::size_t block) {
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
  std::size_t at = 0;
  do {
    const std::size_t n = std::min(block, plain.size() - at);
    const bool last = at + n == plain.size();
    out.push_back(last ? 1 : 0);  // BFINAL, BTYPE 00, then padding to the byte boundary
    const std::uint16_t len = std::uint16_t(n), nlen = std::uint16_t(~len);
    for (std::uint16_t v : {len, nlen}) out.insert(out.end(), {std::uint8_t(v), std::uint8_t(v >> 8)});
    out.insert(out.end(), plain.begin() + std::ptrdiff_t(at), plain.begin() + std::ptrdiff_t(at + n));
    at += n;
  } while (at < plain.size());
  le32(out, crc32(plain.data(), plain.size()));
  le32(out, std::uint32_t(plain.size()));
  return out;
}

// A dynamic-Huffman gzip member (600 skewed letters, `gzip -9` by Python's zlib), the block type
// of nearly all real .gz files and one stb's compressor never writes.
Bytes gzip_dynamic() {
  static const char hex[] =
      "1f8b08000000000002032d52891180300c5a25ab41befd371052f5d4b6b404885810519140201345780518a4ee46c5"
      "78aef51c68c4ce06b9d1b9ef0887a8063a195ae1aec8da14e2682e8b1ea04d19dcd1ce605238cbdb568f4ba2ccaf229e"
      "d0558a111a26f32aeb3ceea996982e55c93d0cff394d2d7db1077a759f4e7698c83b65d0480e47e6de25936cea721c58"
      "7bb67f7de466cd284cdfe2953a158660074a415c8c1f936e2b06ed67429c17a1a90b12981e2917a37bd51d22eea4fd36"
      "2f3efbe9d70aa374fea670ad9a3a1a19db73e437d382700c0a07264b5eb44729076e9566de27850a46425b05fa252f30"
      "ddd132494e5ea42adbb57fc417945aaa8ef99fd917fe5e03dd6b35dc9aeb03c528175f58020000";
  Bytes out;
  for (const char* p = hex; *p; p += 2) out.push_back(std::uint8_t(std::stoi(std::string(p, 2), nullptr, 16)));
  return out;
}

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

  // The streaming tar reader: plain archives with the member kinds it passes over or folds in
  // (a directory, an empty file, a GNU long name, pax attributes).
  put("tar_stream", "images.tar", tar);
  Bytes kinds;
  tar_entry(kinds, "train/", {}, '5');
  tar_entry(kinds, "train/empty.png", {});
  const std::string long_name = std::string(120, 'n') + "/0001.png";
  tar_entry(kinds, "././@LongLink", Bytes(long_name.begin(), long_name.end()), 'L');
  tar_entry(kinds, "long-name-follows", png);
  const std::string pax = "31 path=train/cat/pax-name.png\n";
  tar_entry(kinds, "PaxHeader", Bytes(pax.begin(), pax.end()), 'x');
  tar_entry(kinds, "short", jpeg);
  kinds.resize(kinds.size() + 1024, 0);
  put("tar_stream", "kinds.tar", kinds);

  // The streaming inflater: tars of small images compressed three ways, several members, and a
  // member longer than the reader's 64 KiB chunk (its window slides).
  Bytes big(70000);
  std::mt19937 noise(7);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = std::uint8_t(i % 1000 < 900 ? noise() % 4 : noise());
  put("inflate", "images.tar.gz", gzip(tar));
  put("inflate", "kinds.tar.gz", gzip(kinds));
  put("inflate", "images-stored.tar.gz", gzip_stored(tar, 1000));
  put("inflate", "members.gz", concat(concat(gzip(png), gzip_stored(jpeg, 300)), gzip_dynamic()));
  put("inflate", "dynamic.gz", gzip_dynamic());
  put("inflate", "empty.gz", gzip_stored({}, 1));
  put("inflate", "big.gz", gzip(big));
  put("inflate", "big-stored.gz", gzip_stored(big, 65535));

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
  set.source = "folder:/data/x";
  set.role = "database";
  set.holdout = "last 1 per class";
  save_encoded_set(set, (scratch / "c").string());
  put("codes", "codes.dhc", file_bytes(scratch / "c"));
  // Version 2 in two chunks (more images than one chunk holds), without locators or features.
  EncodedSet many;
  many.codes = BitCodes(1100, 12);
  for (std::size_t i = 0; i < 1100; ++i) many.codes.code(i)[0] = i;
  many.labels.assign(1100, 0);
  many.class_names = {"a"};
  save_encoded_set(many, (scratch / "c2").string());
  put("codes", "codes-2-chunks.dhc", file_bytes(scratch / "c2"));
  // Version 1, still read; nothing writes it any more, so it is laid out here.
  ByteWriter v1;
  v1.write<std::uint32_t>(20);
  v1.write<std::uint64_t>(2);
  for (std::uint64_t w : {0x12345ull, 0x54321ull}) v1.write<std::uint64_t>(w);
  for (std::int32_t l : {0, 1}) v1.write<std::int32_t>(l);
  v1.write<std::uint32_t>(2);
  for (const char* c : {"a", "b"}) v1.write_string(c);
  v1.write_string("cifar10");
  v1.write_string("test");
  v1.write<std::uint32_t>(2);
  for (const char* c : {"x/0.png", "x/1.png"}) v1.write_string(c);
  v1.write<std::uint32_t>(1);
  for (float f : {0.5f, -0.5f}) v1.write<float>(f);
  save_container((scratch / "c1").string(), kCodesFileKind, 1, v1);
  put("codes", "codes-v1.dhc", file_bytes(scratch / "c1"));

  fs::remove_all(scratch);
  std::printf("wrote seed corpora to %s\n", root.string().c_str());
}
