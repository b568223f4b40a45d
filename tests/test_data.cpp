// The dataset readers against real data (Fashion-MNIST, CIFAR-10 as JPEGs) and against files
// generated here, whole and damaged. Every kind of damage must give a deephash::Error whose
// message names the file and says what is wrong.
#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deephash/data/datasets.hpp>
#include <deephash/data/transform.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

// stb_image_write's deflate compressor: in libstb, but declared only in its implementation part.
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len,
                                             int quality);

#include "support.hpp"

using namespace deephash;
using test::TempDir;
namespace fs = std::filesystem;

// `expr` must throw deephash::Error whose message names `where` and contains `problem`.
#define CHECK_ERROR(expr, where, problem)                                                    \
  do {                                                                                       \
    CHECK_THROWS_WITH_AS(expr, doctest::Contains(std::string(where).c_str()), deephash::Error); \
    CHECK_THROWS_WITH_AS(expr, doctest::Contains(std::string(problem).c_str()), deephash::Error); \
  } while (0)

namespace {

using Bytes = std::vector<std::uint8_t>;

using test::write_bytes;

void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, Bytes(text.begin(), text.end()));
}

Bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = std::uint8_t(rng());
  return b;
}

void put_le16(Bytes& b, std::uint32_t v) {
  b.push_back(std::uint8_t(v));
  b.push_back(std::uint8_t(v >> 8));
}
void put_le32(Bytes& b, std::uint32_t v) {
  put_le16(b, v & 0xFFFF);
  put_le16(b, v >> 16);
}
void put_be32(Bytes& b, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(std::uint8_t(v >> shift));
}
Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- a small gzip writer (RFC 1952), independent of the reader under test ----

struct GzipOptions {
  bool compress = false;  // stb's deflate; else stored (uncompressed) blocks
  std::string name, comment;
  Bytes extra;
  bool header_crc = false;
};

GzipOptions compressed() {
  GzipOptions options;
  options.compress = true;
  return options;
}

Bytes gzip(const Bytes& data, const GzipOptions& options = {}) {
  std::uint8_t flags = 0;
  if (options.header_crc) flags |= 2;
  if (!options.extra.empty()) flags |= 4;
  if (!options.name.empty()) flags |= 8;
  if (!options.comment.empty()) flags |= 16;
  Bytes out = {0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255};
  if (!options.extra.empty()) {
    put_le16(out, std::uint32_t(options.extra.size()));
    out.insert(out.end(), options.extra.begin(), options.extra.end());
  }
  for (const std::string* s : {&options.name, &options.comment})
    if (!s->empty()) {
      out.insert(out.end(), s->begin(), s->end());
      out.push_back(0);
    }
  if (options.header_crc) put_le16(out, crc32(out.data(), out.size()) & 0xFFFF);
  if (options.compress) {
    int zlib_size = 0;
    unsigned char* zlib = stbi_zlib_compress(const_cast<unsigned char*>(data.data()),
                                             int(data.size()), &zlib_size, 8);
    REQUIRE(zlib != nullptr);
    REQUIRE(zlib_size >= 6);
    out.insert(out.end(), zlib + 2, zlib + zlib_size - 4);  // drop the zlib header and Adler-32
    std::free(zlib);
  } else {
    std::size_t pos = 0;
    do {
      const std::size_t n = std::min<std::size_t>(65535, data.size() - pos);
      out.push_back(pos + n == data.size() ? 1 : 0);  // BFINAL, BTYPE 00 (stored)
      put_le16(out, std::uint32_t(n));
      put_le16(out, std::uint32_t(~n & 0xFFFF));
      out.insert(out.end(), data.begin() + std::ptrdiff_t(pos), data.begin() + std::ptrdiff_t(pos + n));
      pos += n;
    } while (pos < data.size());
  }
  put_le32(out, crc32(data.data(), data.size()));
  put_le32(out, std::uint32_t(data.size()));
  return out;
}

// ---- IDX and CIFAR-10 writers ----

Bytes idx(std::uint8_t type, const std::vector<std::uint32_t>& dims, const Bytes& values) {
  Bytes out = {0, 0, type, std::uint8_t(dims.size())};
  for (auto d : dims) put_be32(out, d);
  out.insert(out.end(), values.begin(), values.end());
  return out;
}

// Pixel (y, x) of channel c of record r in the generated CIFAR batches.
std::uint8_t cifar_pixel(std::size_t r, std::size_t c, std::size_t y, std::size_t x) {
  return std::uint8_t(r * 31 + c * 80 + y * 7 + x * 3);
}

Bytes cifar_batch(const std::vector<int>& labels, std::size_t first_record = 0) {
  Bytes out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    out.push_back(std::uint8_t(labels[i]));
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t y = 0; y < 32; ++y)
        for (std::size_t x = 0; x < 32; ++x) out.push_back(cifar_pixel(first_record + i, c, y, x));
  }
  return out;
}

// ---- a ustar writer ----

class TarBuilder {
 public:
  // One entry; `size_field` replaces the octal size when given (to write broken headers).
  void add(const std::string& name, const Bytes& data, char type = '0',
           const std::string& prefix = "", const std::string& size_field = "") {
    std::array<std::uint8_t, 512> h{};
    auto put = [&](std::size_t offset, const std::string& s) {
      std::memcpy(h.data() + offset, s.data(), s.size());
    };
    auto octal = [](std::uint64_t v, int digits) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%0*llo", digits, static_cast<unsigned long long>(v));
      return std::string(buf);
    };
    REQUIRE(name.size() <= 100);
    put(0, name);
    put(100, "0000644");
    put(108, "0001750");
    put(116, "0001750");
    put(124, size_field.empty() ? octal(data.size(), 11) : size_field);
    put(136, "14737166077");
    h[156] = std::uint8_t(type);
    put(257, std::string("ustar\0" "00", 8));
    put(265, "user");
    put(297, "group");
    put(345, prefix);
    std::memset(h.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (auto b : h) sum += b;
    put(148, octal(sum, 6));
    h[154] = 0;
    bytes_.insert(bytes_.end(), h.begin(), h.end());
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    bytes_.resize((bytes_.size() + 511) / 512 * 512, 0);
  }
  void add_text(const std::string& name, const std::string& text) {
    add(name, Bytes(text.begin(), text.end()));
  }
  // A pax extended header giving the next entry's path.
  void add_pax_path(const std::string& path) {
    const std::string body = " path=" + path + "\n";
    std::size_t length = body.size() + 1;
    while (std::to_string(length).size() + body.size() != length) ++length;
    const std::string record = std::to_string(length) + body;
    add("PaxHeaders.0/entry", Bytes(record.begin(), record.end()), 'x');
  }
  // A GNU long-name entry for the next entry.
  void add_gnu_long_name(const std::string& name) {
    Bytes data(name.begin(), name.end());
    data.push_back(0);
    add("././@LongLink", data, 'L');
  }
  Bytes finish() const {
    Bytes out = bytes_;
    out.resize(out.size() + 1024, 0);  // the two end-of-archive zero blocks
    out.resize((out.size() + 10239) / 10240 * 10240, 0);
    return out;
  }
  std::size_t size() const { return bytes_.size(); }

 private:
  Bytes bytes_;
};

// ---- images ----

// A height x width image whose every byte is derived from `seed`.
Image pattern_image(int height, int width, int channels, int seed) {
  Image im;
  im.height = height;
  im.width = width;
  im.channels = channels;
  im.pixels.resize(im.bytes());
  for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = std::uint8_t(seed * 37 + i * 11);
  return im;
}

void write_png_with_stb(const std::string& path, const Image& im) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), im.width, im.height, im.channels, im.pixels.data(),
                         im.width * im.channels) != 0);
}

Bytes jpeg_bytes(const Image& im) {
  Bytes out;
  auto append = [](void* context, void* data, int size) {
    auto* o = static_cast<Bytes*>(context);
    o->insert(o->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  REQUIRE(stbi_write_jpg_to_func(append, &out, im.width, im.height, im.channels,
                                 im.pixels.data(), 90) != 0);
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

// ================================================================================== gzip

TEST_CASE("gzip: stored and compressed members, header fields, concatenated members") {
  const Bytes data = random_bytes(150000, 1);  // more than two stored blocks
  Bytes text(70000);
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = std::uint8_t("deephash "[i % 9]);

  CHECK(gunzip(gzip(data), "a") == data);
  CHECK(gunzip(gzip(text, compressed()), "b") == text);
  CHECK(gunzip(gzip(data, compressed()), "c") == data);
  CHECK(gunzip(gzip(Bytes{}), "empty") == Bytes{});
  GzipOptions all_fields;
  all_fields.name = "images.idx";
  all_fields.comment = "a comment";
  all_fields.extra = {'A', 'P', 2, 0, 7, 9};
  all_fields.header_crc = true;
  CHECK(gunzip(gzip(text, all_fields), "fields") == text);

  SUBCASE("several members, identical ones too") {
    const Bytes one = gzip(text, compressed());
    CHECK(gunzip(concat({one, one}), "twice") == concat({text, text}));
    CHECK(gunzip(concat({gzip(data), gzip(Bytes{}), one, gzip(data, all_fields)}), "four")
          == concat({data, text, data}));
  }

  SUBCASE("data that contains things looking like a trailer followed by a member header") {
    // Stored blocks carry the data verbatim, so these fakes sit in the deflate stream itself:
    // one claiming fewer bytes than the member has, one claiming more.
    Bytes tricky = random_bytes(5000, 2);
    for (std::uint32_t fake_isize : {10u, 3000000u, 7000u}) {
      Bytes fake;
      put_le32(fake, 0x12345678);
      put_le32(fake, fake_isize);
      fake.insert(fake.end(), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3});
      tricky.insert(tricky.end(), fake.begin(), fake.end());
      const Bytes more = random_bytes(3000, fake_isize);
      tricky.insert(tricky.end(), more.begin(), more.end());
    }
    CHECK(gunzip(gzip(tricky), "tricky") == tricky);
    CHECK(gunzip(concat({gzip(tricky), gzip(text)}), "tricky2") == concat({tricky, text}));
    CHECK(gunzip(concat({gzip(text), gzip(tricky)}), "tricky3") == concat({text, tricky}));
  }

  SUBCASE("read_file_maybe_gzip goes by the content, not the name") {
    TempDir dir;
    write_bytes(dir.file("plain.gz"), text);
    write_bytes(dir.file("packed.bin"), gzip(text, compressed()));
    CHECK(read_file_maybe_gzip(dir.file("plain.gz")) == text);
    CHECK(read_file_maybe_gzip(dir.file("packed.bin")) == text);
    CHECK_ERROR(read_file_maybe_gzip(dir.file("absent.gz")), "absent.gz", "cannot open");
  }
}

TEST_CASE("gzip: damage gives an error naming the file and the problem") {
  TempDir dir;
  const Bytes data = random_bytes(20000, 3);
  Bytes text(50000);
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = std::uint8_t('a' + (i * i) % 7);
  const Bytes stored = gzip(data);
  const Bytes packed = gzip(text, compressed());
  const std::string path = dir.file("damaged.gz");
  auto read_damaged = [&](const Bytes& bytes) {
    write_bytes(path, bytes);
    return read_file_maybe_gzip(path);
  };

  CHECK_ERROR(read_damaged({0x1f, 0x8b, 8, 0, 0}), path, "truncated gzip header");
  CHECK_ERROR(read_damaged(Bytes(stored.begin(), stored.begin() + 12)), path, "truncated gzip data");
  CHECK_ERROR(read_damaged({0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3, 'a', 'b'}), path,
              "truncated gzip header: the file name");
  CHECK_ERROR(read_damaged({0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 200, 0, 1, 2}), path,
              "truncated gzip header: the extra field");
  CHECK_ERROR(gunzip(Bytes{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0}, "x.zip"), "x.zip",
              "not a gzip file");
  {
    Bytes b = stored;
    b[2] = 7;
    CHECK_ERROR(read_damaged(b), path, "unsupported gzip compression method 7");
    b = stored;
    b[3] = 0x40;
    CHECK_ERROR(read_damaged(b), path, "reserved flag bits");
  }
  {
    GzipOptions crc;
    crc.header_crc = true;
    crc.name = "x";
    Bytes b = gzip(text, crc);
    b[12 + 1] ^= 1;  // the header CRC after the 10 fixed bytes and "x\0"
    CHECK_ERROR(read_damaged(b), path, "gzip header CRC mismatch");
  }
  for (const Bytes* good : {&stored, &packed}) {
    Bytes b = *good;
    b[b.size() - 6] ^= 0x10;  // the trailer's CRC
    CHECK_ERROR(read_damaged(b), path, "CRC mismatch: the file is corrupted");
  }
  {
    Bytes b = stored;
    b[5000] ^= 0xFF;  // a data byte of a stored block: only the CRC can tell
    CHECK_ERROR(read_damaged(b), path, "CRC mismatch: the file is corrupted");
  }
  for (const Bytes* good : {&stored, &packed}) {
    for (std::size_t cut : {std::size_t(1), std::size_t(9), good->size() / 2}) {
      INFO("cut " << cut << " bytes");
      CHECK_ERROR(read_damaged(Bytes(good->begin(), good->end() - std::ptrdiff_t(cut))), path,
                  "truncated");
    }
  }
  auto with_isize = [](Bytes b, std::uint32_t isize) {
    for (int i = 0; i < 4; ++i) b[b.size() - 4 + std::size_t(i)] = std::uint8_t(isize >> (8 * i));
    return b;
  };
  // The trailer is read after the data, so a size it declares is never allocated for.
  CHECK_ERROR(read_damaged(with_isize(packed, 0xFFFFFFFFu)), path,
              "decodes to 50000 bytes but the gzip trailer's ISIZE declares 4294967295");
  CHECK_ERROR(read_damaged(with_isize(packed, std::uint32_t(text.size() - 1))), path,
              "decodes to 50000 bytes but the gzip trailer's ISIZE declares 49999");
  CHECK_ERROR(read_damaged(with_isize(stored, std::uint32_t(data.size() + 1))), path,
              "decodes to 20000 bytes but the gzip trailer's ISIZE declares 20001");
  {
    Bytes b = packed;
    for (std::size_t i = 40; i < 60; ++i) b[i] ^= 0x5A;  // scrambled Huffman codes
    CHECK_ERROR(read_damaged(b), path, "corrupt");
  }
  {
    const std::string after_member_1 = "unexpected bytes at offset " + std::to_string(stored.size()) +
                                       " after gzip member 1: neither the end of the file nor another gzip member";
    Bytes b = concat({stored, Bytes{'j', 'u', 'n', 'k', '!', '!', '!', '!', '!', '!'}});
    CHECK_ERROR(read_damaged(b), path, after_member_1);
    CHECK_ERROR(read_damaged(concat({stored, Bytes{0}})), path, after_member_1);
    CHECK_ERROR(read_damaged(concat({stored, Bytes{0x1f}})), path,
                "truncated gzip header (gzip member 2): the fixed header needs 10 bytes at offset " +
                    std::to_string(stored.size()) + ", only 1 left");
    // Offsets are the file's, in later members too.
    CHECK_ERROR(read_damaged(concat({stored, Bytes{0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3, 'a'}})), path,
                "truncated gzip header (gzip member 2): the file name at offset " +
                    std::to_string(stored.size() + 10) + " has no terminating zero byte");
    b = concat({stored, stored});
    b[stored.size() + 2] = 9;  // second member's method
    CHECK_ERROR(read_damaged(b), path, "method 9 (gzip member 2)");
    b = concat({stored, stored});
    b[stored.size()] = 0;  // second member's magic: now garbage ending in a copy of the trailer
    CHECK_ERROR(read_damaged(b), path, after_member_1);
  }
}

TEST_CASE("gzip: in-memory gunzip holds a bounded number of bytes, and says to stream larger data") {
  Bytes text(50000);
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = std::uint8_t('a' + (i * i) % 7);
  const Bytes packed = concat({gzip(text, compressed()), gzip(text)});
  CHECK(gunzip(packed, "big.gz", 100000) == concat({text, text}));
  CHECK_ERROR(gunzip(packed, "big.gz", 99999), "big.gz",
              "the gzip data decompresses to more than 99999 bytes, the most gunzip() holds in memory: "
              "stream the file instead");
  CHECK_ERROR(gunzip(packed, "big.gz", 1000), "big.gz", "more than 1000 bytes");
  CHECK(kMaxGunzipBytes == std::size_t(1) << 30);
}

TEST_CASE("fuzzing regression: stray bytes between the final deflate block and a valid trailer") {
  // Found by fuzz_inflate: an empty final stored block, 9 stray bytes, then a trailer that is
  // right for the (empty) data. The stb-based gunzip() of old took the first 8 bytes that matched
  // the data's CRC and size as the trailer, so it accepted this; RFC 1952 puts the trailer right
  // after the final block, where both readers (now one decoder) find 9 bytes of 0xff instead.
  Bytes good = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff};
  Bytes stray = good;
  stray.insert(stray.end(), 9, 0xff);
  stray.insert(stray.end(), 8, 0x00);
  good.insert(good.end(), 8, 0x00);
  CHECK(gunzip(good, "good.gz").empty());
  const std::string problem = "CRC mismatch: the file is corrupted (the gzip trailer says 0xffffffff, the data gives 0x00000000)";
  CHECK_ERROR(gunzip(stray, "stray.gz"), "stray.gz", problem);
  auto stream = [&] {  // CHECK_ERROR evaluates it twice: a fresh reader each time
    GzipFileReader reader(stray.data(), stray.size(), "stray.gz");
    std::uint8_t byte = 0;
    return reader.read(&byte, 1);
  };
  CHECK_ERROR(stream(), "stray.gz", problem);
  // A reader that failed keeps failing with the same error, rather than reading on from a state
  // it cannot trust.
  GzipFileReader reader(stray.data(), stray.size(), "stray.gz");
  std::uint8_t byte = 0;
  CHECK_THROWS(reader.read(&byte, 1));
  CHECK_ERROR(reader.read(&byte, 1), "stray.gz", problem);
  CHECK_ERROR(reader.skip(5), "stray.gz", problem);
}

// ================================================================================== IDX

TEST_CASE("IDX: generated image and label files, plain and gzip") {
  TempDir dir;
  const Bytes pixels = random_bytes(7 * 5 * 3, 4);
  const Bytes labels = {3, 1, 4, 1, 5, 9, 2};
  write_bytes(dir.file("images.idx"), idx(0x08, {7, 5, 3}, pixels));
  write_bytes(dir.file("labels.idx"), idx(0x08, {7}, labels));
  write_bytes(dir.file("images.idx.gz"), gzip(idx(0x08, {7, 5, 3}, pixels), compressed()));
  write_bytes(dir.file("labels.idx.gz"), gzip(idx(0x08, {7}, labels)));

  for (const char* suffix : {"", ".gz"}) {
    const ImageDataset ds =
        read_idx_dataset(dir.file("images.idx" + std::string(suffix)), dir.file("labels.idx" + std::string(suffix)));
    CHECK(ds.size() == 7);
    CHECK(ds.height == 5);
    CHECK(ds.width == 3);
    CHECK(ds.channels == 1);
    CHECK(ds.image_bytes() == 15);
    CHECK(ds.pixels == pixels);
    CHECK(ds.labels == std::vector<int>{3, 1, 4, 1, 5, 9, 2});
    CHECK(ds.class_names.empty());
    CHECK(ds.paths.empty());
    CHECK(ds.num_classes() == 10);
    CHECK(std::memcmp(ds.image(4), pixels.data() + 4 * 15, 15) == 0);
  }

  const Bytes four_d_file = idx(0x08, {2, 1, 3, 2}, random_bytes(12, 5));
  const IdxArray four_d = parse_idx_u8(four_d_file.data(), four_d_file.size(), "4d");
  CHECK(four_d.dims == std::vector<std::size_t>{2, 1, 3, 2});
  CHECK(four_d.values == random_bytes(12, 5));
  const Bytes empty = idx(0x08, {0, 28, 28}, {});
  CHECK(parse_idx_u8(empty.data(), empty.size(), "empty").values.empty());

  SUBCASE("the Fashion-MNIST and MNIST layout") {
    const Bytes train_labels = {0, 9, 3};
    write_bytes(dir.file("train-images-idx3-ubyte.gz"), gzip(idx(0x08, {3, 2, 2}, random_bytes(12, 6))));
    write_bytes(dir.file("train-labels-idx1-ubyte.gz"), gzip(idx(0x08, {3}, train_labels)));
    write_bytes(dir.file("t10k-images-idx3-ubyte"), idx(0x08, {2, 2, 2}, random_bytes(8, 7)));
    write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(0x08, {2}, {4, 4}));
    const ImageDataset train = load_fashion_mnist(dir.path.string(), "train");
    CHECK(train.size() == 3);
    CHECK(train.pixels == random_bytes(12, 6));
    CHECK(train.class_names.size() == 10);
    CHECK(train.class_names[0] == "T-shirt/top");
    CHECK(train.class_names[9] == "Ankle boot");
    const ImageDataset test = load_mnist(dir.path.string(), "test");
    CHECK(test.size() == 2);
    CHECK(test.labels == std::vector<int>{4, 4});
    CHECK(test.class_names[7] == "7");
    CHECK_ERROR(load_fashion_mnist(dir.path.string(), "validation"), "load_fashion_mnist", "unknown split \"validation\"");
    CHECK_ERROR(load_fashion_mnist(dir.file("nowhere"), "train"), "nowhere", "train-images-idx3-ubyte.gz");

    write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(0x08, {2}, {4, 12}));
    CHECK_ERROR(load_fashion_mnist(dir.path.string(), "test"), "t10k-labels-idx1-ubyte",
                "label 12 of image 1 is out of range for the 10 classes of Fashion-MNIST");
  }
}

TEST_CASE("IDX: damaged files give an error naming the file and the problem") {
  TempDir dir;
  const std::string images = dir.file("images-idx3-ubyte"), labels = dir.file("labels-idx1-ubyte");
  const Bytes good_images = idx(0x08, {4, 3, 2}, random_bytes(24, 8));
  const Bytes good_labels = idx(0x08, {4}, {0, 1, 2, 3});
  write_bytes(labels, good_labels);
  auto read_images = [&](const Bytes& bytes) {
    write_bytes(images, bytes);
    return read_idx_dataset(images, labels);
  };

  CHECK_ERROR(read_images(Bytes{0, 0, 8}), images, "truncated: the IDX magic number");
  CHECK_ERROR(read_images(Bytes{0, 0, 8, 3, 0, 0, 0, 4}), images, "truncated: an IDX dimension");
  CHECK_ERROR(read_images(Bytes(good_images.begin(), good_images.end() - 1)), images,
              "truncated: the dimensions 4 x 3 x 2 need more data bytes than the 23 present");
  CHECK_ERROR(read_images(concat({good_images, Bytes{1, 2}})), images,
              "2 bytes follow the data that the dimensions 4 x 3 x 2 account for");
  CHECK_ERROR(read_images(idx(0x08, {4, 3, 3}, random_bytes(24, 8))), images,
              "the dimensions 4 x 3 x 3 need more data bytes than the 24 present");
  CHECK_ERROR(read_images(idx(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, random_bytes(24, 8))),
              images, "truncated");
  CHECK_ERROR(read_images(concat({Bytes{0x50, 0x4B}, Bytes(good_images.begin() + 2, good_images.end())})),
              images, "not an IDX file: bad magic number");
  CHECK_ERROR(read_images(idx(0x0D, {4, 3, 2}, random_bytes(96, 8))), images,
              "unsupported element type 0x0d (32-bit float)");
  CHECK_ERROR(read_images(idx(0x08, {}, {})), images, "at least one dimension");
  CHECK_ERROR(read_images(idx(0x08, {4, 6}, random_bytes(24, 8))), images,
              "expected images as a 3-D array");
  CHECK_ERROR(read_images(idx(0x08, {5, 3, 2}, random_bytes(30, 8))), labels,
              "has 4 labels but " + images + " has 5 images");
  CHECK_ERROR(read_images(idx(0x08, {4, 0, 2}, {})), images, "image size 0 x 2 is not usable");
  {
    Bytes gz = gzip(good_images);
    gz[gz.size() - 7] ^= 1;
    CHECK_ERROR(read_images(gz), images, "CRC mismatch");
  }
  write_bytes(images, good_images);
  write_bytes(labels, idx(0x08, {2, 2}, {0, 1, 2, 3}));
  CHECK_ERROR(read_idx_dataset(images, labels), labels, "expected labels as a 1-D array");
}

DEEPHASH_OPTIONAL_TEST_CASE("Fashion-MNIST: the real files") {
  const std::string dir = default_fashion_mnist_dir();
  test::skip_unless(fs::exists(fs::path(dir) / "train-images-idx3-ubyte.gz") ||
                        fs::exists(fs::path(dir) / "train-images-idx3-ubyte"),
                    "Fashion-MNIST not found in " + dir + " (install dataset-fashion-mnist or set DEEPHASH_FASHION_MNIST_DIR)");
  // Checksums computed once with Python's gzip and zlib modules, independently of this code.
  struct Expected {
    const char* split;
    std::size_t count, per_class;
    std::uint32_t pixel_crc;
    std::uint64_t pixel_sum;
    std::uint32_t label_crc;
    std::vector<int> first_labels;
  };
  for (const Expected& e : {Expected{"train", 60000, 6000, 0xae65dccdu, 3431114169ull, 0x2ed6e46au, {9, 0, 0, 3, 0}},
                            Expected{"test", 10000, 1000, 0x12728439u, 573469082ull, 0x242bc73fu, {9, 2, 1, 1, 6}}}) {
    INFO("split " << e.split);
    const ImageDataset ds = load_fashion_mnist(dir, e.split);
    REQUIRE(ds.size() == e.count);
    CHECK(ds.height == 28);
    CHECK(ds.width == 28);
    CHECK(ds.channels == 1);
    REQUIRE(ds.pixels.size() == e.count * 784);
    CHECK(crc32(ds.pixels.data(), ds.pixels.size()) == e.pixel_crc);
    std::uint64_t sum = 0;
    for (auto p : ds.pixels) sum += p;
    CHECK(sum == e.pixel_sum);
    const Bytes label_bytes(ds.labels.begin(), ds.labels.end());
    CHECK(crc32(label_bytes.data(), label_bytes.size()) == e.label_crc);
    CHECK(std::vector<int>(ds.labels.begin(), ds.labels.begin() + 5) == e.first_labels);
    std::vector<std::size_t> histogram(10);
    for (int label : ds.labels) histogram.at(std::size_t(label))++;
    CHECK(histogram == std::vector<std::size_t>(10, e.per_class));
    CHECK(ds.num_classes() == 10);
    CHECK(ds.class_names[5] == "Sandal");

    const ImageDataset some = ds.subset({5, 0, 5});
    REQUIRE(some.size() == 3);
    CHECK(some.labels == std::vector<int>{ds.labels[5], ds.labels[0], ds.labels[5]});
    CHECK(std::memcmp(some.image(1), ds.image(0), 784) == 0);
    CHECK(std::memcmp(some.image(2), ds.image(5), 784) == 0);
    CHECK(some.class_names == ds.class_names);
    CHECK_ERROR(ds.subset({1, e.count}), "ImageDataset::subset",
                "row " + std::to_string(e.count) + " (position 1) is out of range");
  }
}

// ================================================================================== CIFAR-10

TEST_CASE("CIFAR-10 binary batches") {
  TempDir dir;
  const std::string batch = dir.file("data_batch_1.bin");
  write_bytes(batch, cifar_batch({6, 9, 0, 3}));
  const ImageDataset ds = read_cifar10_batch(batch);
  REQUIRE(ds.size() == 4);
  CHECK(ds.height == 32);
  CHECK(ds.width == 32);
  CHECK(ds.channels == 3);
  CHECK(ds.labels == std::vector<int>{6, 9, 0, 3});
  CHECK(ds.class_names == cifar10_class_names());
  bool all_equal = true;
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t y = 0; y < 32; ++y)
      for (std::size_t x = 0; x < 32; ++x)
        for (std::size_t c = 0; c < 3; ++c)
          all_equal = all_equal && ds.image(r)[(y * 32 + x) * 3 + c] == cifar_pixel(r, c, y, x);
  CHECK(all_equal);
  CHECK(ds.image(1)[(2 * 32 + 5) * 3 + 1] == cifar_pixel(1, 1, 2, 5));  // one spelled out

  SUBCASE("damaged batches") {
    Bytes b = cifar_batch({1, 2, 3});
    write_bytes(batch, Bytes(b.begin(), b.end() - 2973));
    CHECK_ERROR(read_cifar10_batch(batch), batch,
                "record 2 at offset 6146 has only 100 bytes");
    b[3073] = 10;
    write_bytes(batch, b);
    CHECK_ERROR(read_cifar10_batch(batch), batch, "record 1 at offset 3073: label 10 is not a CIFAR-10 class");
    write_bytes(batch, {});
    CHECK_ERROR(read_cifar10_batch(batch), batch, "empty");
    CHECK_ERROR(read_cifar10_batch(dir.file("nope.bin")), "nope.bin", "cannot open");
  }

  SUBCASE("the batches folder") {
    for (int i = 1; i <= 5; ++i)
      write_bytes(dir.file("data_batch_" + std::to_string(i) + ".bin"), cifar_batch({i, i + 1}, std::size_t(2 * i)));
    write_bytes(dir.file("test_batch.bin"), cifar_batch({7, 8, 9}, 100));
    const ImageDataset train = load_cifar10_binary(dir.path.string(), "train");
    REQUIRE(train.size() == 10);
    CHECK(train.labels == std::vector<int>{1, 2, 2, 3, 3, 4, 4, 5, 5, 6});
    CHECK(train.image(9)[(31 * 32 + 31) * 3 + 2] == cifar_pixel(11, 2, 31, 31));
    CHECK(train.class_names[9] == "truck");
    const ImageDataset test = load_cifar10_binary(dir.path.string(), "test");
    CHECK(test.size() == 3);
    CHECK(test.image(0)[0] == cifar_pixel(100, 0, 0, 0));

    write_text(dir.file("batches.meta.txt"), "a0\na1\na2\na3\na4\na5\na6\na7\na8\r\na9\n\n\n");
    CHECK(load_cifar10_binary(dir.path.string(), "test").class_names[9] == "a9");
    CHECK(load_cifar10_binary(dir.path.string(), "test").class_names[8] == "a8");
    write_text(dir.file("batches.meta.txt"), "a0\na1\n");
    CHECK_ERROR(load_cifar10_binary(dir.path.string(), "test"), "batches.meta.txt", "lists 2 class names");
    fs::remove(dir.file("batches.meta.txt"));
    CHECK_ERROR(load_cifar10_binary(dir.path.string(), "dev"), "load_cifar10_binary", "unknown split");
    fs::remove(dir.file("data_batch_3.bin"));
    CHECK_ERROR(load_cifar10_binary(dir.path.string(), "train"), "data_batch_3.bin", "cannot open");
  }
}

// ================================================================================== images

TEST_CASE("decode, resize and PNG round trips") {
  TempDir dir;
  const Image rgb = pattern_image(5, 7, 3, 1);
  const Bytes png = encode_png(rgb);
  const Image back = decode_image(png.data(), png.size(), "memory.png");
  CHECK(back.height == 5);
  CHECK(back.width == 7);
  CHECK(back.channels == 3);
  CHECK(back.pixels == rgb.pixels);

  const Image gray = decode_image(png.data(), png.size(), "memory.png", 1);
  CHECK(gray.channels == 1);
  CHECK(gray.pixels.size() == 35);
  const Image rgba = decode_image(png.data(), png.size(), "memory.png", 4);
  CHECK(rgba.pixels[3] == 255);
  CHECK(rgba.pixels[4] == rgb.pixels[3]);

  write_png(dir.file("out.png"), rgb);
  CHECK(read_image(dir.file("out.png")).pixels == rgb.pixels);
  const Image gray_image = pattern_image(4, 3, 1, 2);
  write_png(dir.file("gray.png"), gray_image);
  CHECK(read_image(dir.file("gray.png"), 1).pixels == gray_image.pixels);
  CHECK(read_image(dir.file("gray.png"), 3).pixels[5] == gray_image.pixels[1]);

  Image flat = pattern_image(6, 6, 3, 0);
  std::fill(flat.pixels.begin(), flat.pixels.end(), std::uint8_t(77));
  const Image bigger = resize_image(flat, 9, 12);
  CHECK(bigger.height == 9);
  CHECK(bigger.width == 12);
  CHECK(bigger.pixels == Bytes(9 * 12 * 3, 77));
  const Image smaller = resize_image(rgb, 2, 3);
  CHECK(smaller.pixels.size() == 18);
  CHECK(resize_image(rgb, 5, 7).pixels == rgb.pixels);

  const Bytes jpeg = jpeg_bytes(pattern_image(16, 16, 3, 3));
  CHECK(decode_image(jpeg.data(), jpeg.size(), "ok.jpg").width == 16);
  CHECK_ERROR(decode_image(jpeg.data(), 40, "cut.jpg"), "cut.jpg", "corrupt or truncated JPEG: the segment of marker 0xdb");
  const Bytes text = {'h', 'e', 'l', 'l', 'o'};
  CHECK_ERROR(decode_image(text.data(), text.size(), "notes.txt"), "notes.txt", "not an image");
  CHECK_ERROR(decode_image(png.data(), png.size(), "five.png", 5), "five.png", "channels must be");
  CHECK_ERROR(read_image(dir.file("missing.png")), "missing.png", "cannot open");
  Image broken = rgb;
  broken.pixels.pop_back();
  // An image whose buffer does not match its shape gives no view, so nothing reads past it.
  CHECK_ERROR(write_png(dir.file("broken.png"), broken), "image", "needs 105");
  CHECK_FALSE(fs::exists(dir.file("broken.png")));
  CHECK_ERROR(resize_image(rgb, 0, 3), "resize_image", "must be positive");
  CHECK_ERROR(resize_image(ImageView{5, 7, 3, nullptr}, 2, 3), "resize_image", "no pixels");
}

TEST_CASE("views read a dataset's images in place") {
  ImageDataset ds;
  ds.height = 2;
  ds.width = 3;
  ds.channels = 1;
  for (int i = 0; i < 4 * 6; ++i) ds.pixels.push_back(std::uint8_t(i));
  ds.labels = {0, 1, 0, 1};
  const ImageView third = ds.view(2);
  CHECK(third.pixels == ds.image(2));
  CHECK(third.bytes() == 6);
  const ImageBatchView middle = ds.batch(1, 3);
  CHECK(middle.count == 2);
  CHECK(middle.pixels == ds.image(1));
  CHECK(middle[1].pixels == ds.image(2));
  CHECK(middle.slice(1, 2).pixels == ds.image(2));
  CHECK(ds.all().count == 4);
  CHECK(ds.batch(4, 4).count == 0);
  CHECK_ERROR(ds.batch(2, 5), "ImageDataset::batch", "out of range");
  CHECK_ERROR(ds.batch(3, 2), "ImageDataset::batch", "out of range");
  const Image copy = copy_image(third);
  CHECK(copy.pixels == Bytes(ds.image(2), ds.image(3)));
  CHECK(copy.view().pixels == copy.pixels.data());
}

TEST_CASE("transform_image resizes straight from a view, as resize_image and then the transformation") {
  const Image stored = pattern_image(9, 11, 3, 4);
  TransformSpec resizing;
  resizing.resize_height = 6;
  resizing.resize_width = 8;
  resizing.crop = 5;
  resizing.bgr = true;
  resizing.mean_values = {10, 20, 30};
  resizing.scale = 0.5f;
  TransformSpec after_resize = resizing;
  after_resize.resize_height = after_resize.resize_width = 0;
  const Image resized = resize_image(stored, 6, 8);
  std::vector<float> from_view(3 * 5 * 5), from_copy(3 * 5 * 5);
  transform_image(stored.view(), resizing, false, nullptr, from_view.data());
  transform_image(resized, after_resize, false, nullptr, from_copy.data());
  CHECK(from_view == from_copy);

  // Training draws (shift, flip) come from the stream alone, so the same seed gives the same
  // sample either way.
  resizing.pad = after_resize.pad = 2;
  resizing.mirror = after_resize.mirror = Mirror::random;
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    std::mt19937_64 a(seed), b(seed);
    transform_image(stored.view(), resizing, true, &a, from_view.data());
    transform_image(resized, after_resize, true, &b, from_copy.data());
    CHECK(from_view == from_copy);
  }

  // Only one side given: the other keeps the stored size.
  TransformSpec wider;
  wider.resize_width = 15;
  std::vector<float> wide(3 * 9 * 15), wide_copy(3 * 9 * 15);
  transform_image(stored, wider, false, nullptr, wide.data());
  transform_image(resize_image(stored, 9, 15), TransformSpec{}, false, nullptr, wide_copy.data());
  CHECK(wide == wide_copy);
}

// The JPEG `jpeg` with one Huffman table segment put in front of its own: class/slot byte, the
// 16 code counts, the values.
Bytes with_huffman_table(const Bytes& jpeg, std::uint8_t class_slot, const std::vector<int>& counts,
                         const Bytes& values) {
  Bytes table = {class_slot};
  for (int i = 0; i < 16; ++i) table.push_back(std::uint8_t(i < int(counts.size()) ? counts[i] : 0));
  table.insert(table.end(), values.begin(), values.end());
  const std::size_t length = table.size() + 2;
  Bytes out(jpeg.begin(), jpeg.begin() + 2);  // SOI
  for (const int byte : {0xFF, 0xC4, int(length >> 8), int(length & 255)}) out.push_back(std::uint8_t(byte));
  out.insert(out.end(), table.begin(), table.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

TEST_CASE("fuzzing regression: JPEG Huffman tables that would overrun stb_image's arrays are refused") {
  const Bytes jpeg = jpeg_bytes(pattern_image(16, 16, 3, 3));
  const Image reference = decode_image(jpeg.data(), jpeg.size(), "ok.jpg");

  // 300 codes in one table: stb_image 2.27 writes a code length for each into a 257-entry array.
  const Bytes overrun = with_huffman_table(jpeg, 0x00, {255, 45}, Bytes(300, 0));
  CHECK_ERROR(decode_image(overrun.data(), overrun.size(), "dht.jpg"), "dht.jpg", "declares 300 codes in one table");
  // A DC value is the bit count of the next coefficient: 16 or more shifts past a 32-bit word.
  const Bytes wide = with_huffman_table(jpeg, 0x01, {1}, {16});
  CHECK_ERROR(decode_image(wide.data(), wide.size(), "dc.jpg"), "dc.jpg", "holds the DC value 16");
  const Bytes slot = with_huffman_table(jpeg, 0x14, {1}, {0});
  CHECK_ERROR(decode_image(slot.data(), slot.size(), "slot.jpg"), "slot.jpg", "slot 4");
  const Bytes short_values = with_huffman_table(jpeg, 0x10, {0, 3}, {1, 2});
  Bytes cut(short_values.begin(), short_values.begin() + 6 + 1 + 16 + 2);
  cut[5] = std::uint8_t(cut.size() - 4);  // the segment now really ends after two of its three values
  cut.insert(cut.end(), jpeg.begin() + 2, jpeg.end());
  CHECK_ERROR(decode_image(cut.data(), cut.size(), "values.jpg"), "values.jpg", "ends inside a table's values");

  // Well-formed tables pass the check and are then replaced by the file's own: the same pixels.
  const Bytes fine = with_huffman_table(jpeg, 0x13, {0, 2, 1}, {200, 17, 0});
  CHECK(decode_image(fine.data(), fine.size(), "fine.jpg").pixels == reference.pixels);
  // Stray bytes and fill bytes between segments are skipped, as stb_image skips them.
  Bytes stray = jpeg;
  const std::size_t after_first_segment = 4 + (std::size_t(jpeg[4]) << 8 | jpeg[5]);
  stray.insert(stray.begin() + after_first_segment, {0x00, 0x17, 0xFF});
  CHECK(decode_image(stray.data(), stray.size(), "stray.jpg").pixels == reference.pixels);
}

TEST_CASE("image folders") {
  TempDir dir;
  const std::string root = dir.file("set");
  // Created out of order: labels and order must come from the names.
  const std::vector<std::pair<std::string, std::vector<std::string>>> layout = {
      {"zebra", {"b.png", "a.png"}}, {"ant", {"c.png", "a.png", "b.png"}}, {"moose", {"x.png"}}};
  int seed = 0;
  std::map<std::string, Image> written;
  for (const auto& [cls, files] : layout)
    for (const auto& file : files) {
      const std::string path = root + "/" + cls + "/" + file;
      written[path] = pattern_image(4, 6, 3, ++seed);
      write_png_with_stb(path, written[path]);
    }
  write_text(root + "/README.txt", "not a class");
  write_text(root + "/ant/.DS_Store", "hidden");

  const ImageDataset ds = load_image_folder(root);
  REQUIRE(ds.size() == 6);
  CHECK(ds.class_names == std::vector<std::string>{"ant", "moose", "zebra"});
  CHECK(ds.labels == std::vector<int>{0, 0, 0, 1, 2, 2});
  CHECK(ds.height == 4);
  CHECK(ds.width == 6);
  CHECK(ds.channels == 3);
  REQUIRE(ds.paths.size() == 6);
  const std::vector<std::string> order = {"ant/a.png", "ant/b.png", "ant/c.png",
                                          "moose/x.png", "zebra/a.png", "zebra/b.png"};
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(ds.paths[i] == root + "/" + order[i]);
    CHECK(std::memcmp(ds.image(i), written[ds.paths[i]].pixels.data(), ds.image_bytes()) == 0);
  }

  ImageLoadOptions gray;
  gray.channels = 1;
  const ImageDataset gray_ds = load_image_folder(root, gray);
  CHECK(gray_ds.channels == 1);
  CHECK(gray_ds.pixels.size() == 6 * 24);

  SUBCASE("many images, decoded by several threads, as by one") {
    for (int i = 0; i < 300; ++i) {
      const std::string path = root + "/moose/m" + std::to_string(1000 + i) + ".png";
      write_png_with_stb(path, pattern_image(4, 6, 3, 100 + i));
    }
    ImageLoadOptions one, three;
    one.num_threads = 1;
    three.num_threads = 3;
    const ImageDataset a = load_image_folder(root, one), b = load_image_folder(root, three);
    CHECK(a.size() == 306);
    CHECK(a.pixels == b.pixels);
    CHECK(a.labels == b.labels);
    CHECK(a.paths == b.paths);
    CHECK(ends_with(a.paths[3], "moose/m1000.png"));
  }

  SUBCASE("mixed sizes: an error without resizing, one size with it") {
    write_png_with_stb(root + "/moose/y.png", pattern_image(8, 5, 3, 50));
    CHECK_ERROR(load_image_folder(root), root + "/moose/y.png",
                "the image is 8x5 but the first image, " + root + "/ant/a.png, is 4x6");
    ImageLoadOptions resize;
    resize.resize_height = 3;
    resize.resize_width = 2;
    const ImageDataset small = load_image_folder(root, resize);
    CHECK(small.size() == 7);
    CHECK(small.height == 3);
    CHECK(small.width == 2);
    CHECK(small.pixels.size() == 7 * 18);
    resize.resize_width = 0;
    CHECK_ERROR(load_image_folder(root, resize), root, "must both be positive");
  }

  SUBCASE("a corrupt JPEG and a non-image file are named") {
    const Bytes jpeg = jpeg_bytes(pattern_image(4, 6, 3, 9));
    write_bytes(root + "/zebra/c.jpg", Bytes(jpeg.begin(), jpeg.begin() + 60));
    CHECK_ERROR(load_image_folder(root), root + "/zebra/c.jpg", "corrupt or truncated JPEG");
    fs::remove(root + "/zebra/c.jpg");
    write_text(root + "/ant/notes.txt", "some notes");
    CHECK_ERROR(load_image_folder(root), root + "/ant/notes.txt", "not an image");
  }

  SUBCASE("a folder of photos and no class folders: one class, named after the folder") {
    const std::string photos = dir.file("photos");
    write_png_with_stb(photos + "/b.png", pattern_image(4, 6, 3, 1));
    write_bytes(photos + "/a.jpg", jpeg_bytes(pattern_image(4, 6, 3, 2)));
    for (const std::string& spelled : {photos, photos + "/"}) {
      const ImageDataset ds = load_image_folder(spelled);
      CHECK(ds.class_names == std::vector<std::string>{"photos"});
      CHECK(ds.labels == std::vector<int>{0, 0});
      REQUIRE(ds.paths.size() == 2);
      CHECK(fs::path(ds.paths[0]).filename() == "a.jpg");
      const FolderSource streamed(spelled);
      CHECK(streamed.size() == 2);
      CHECK(streamed.class_names() == ds.class_names);
      CHECK(streamed.locator(1) == ds.paths[1]);
    }
  }

  SUBCASE("folders that are not image folders") {
    CHECK_ERROR(load_image_folder(dir.file("absent")), "absent", "not a folder");
    fs::create_directories(dir.file("empty"));
    CHECK_ERROR(load_image_folder(dir.file("empty")), "empty", "holds neither image files nor class subfolders");
    fs::create_directories(dir.file("flat"));
    write_text(dir.file("flat/a.txt"), "x");
    CHECK_ERROR(load_image_folder(dir.file("flat")), dir.file("flat/a.txt"), "not an image");
    fs::create_directories(dir.file("hollow/cls"));
    CHECK_ERROR(load_image_folder(dir.file("hollow")), "hollow", "hold no files");
  }
}

// ================================================================================== tar

TEST_CASE("tar archives: ustar, GNU and pax names, plain and gzip") {
  TempDir dir;
  const std::string long_dir(90, 'd');
  const std::string long_name(130, 'n');
  TarBuilder tar;
  tar.add("top/", {}, '5');
  tar.add_text("top/a.txt", "alpha");
  tar.add("b.bin", random_bytes(1000, 10), '0', long_dir);  // name = prefix + "/" + name
  tar.add("empty", {});
  tar.add("top/link", {}, '2');
  tar.add_gnu_long_name("top/" + long_name);
  tar.add_text("top/truncated-name", "gnu");
  tar.add_pax_path("top/pax/" + long_name + ".txt");
  tar.add_text("top/short", "pax");
  tar.add("exact", random_bytes(512, 11));
  const Bytes bytes = tar.finish();

  auto check = [&](const TarArchive& archive) {
    const auto& e = archive.entries();
    REQUIRE(e.size() == 6);
    CHECK(e[0].name == "top/a.txt");
    CHECK(std::string(reinterpret_cast<const char*>(e[0].data), e[0].size) == "alpha");
    CHECK(e[1].name == long_dir + "/b.bin");
    CHECK(Bytes(e[1].data, e[1].data + e[1].size) == random_bytes(1000, 10));
    CHECK(e[2].name == "empty");
    CHECK(e[2].size == 0);
    CHECK(e[3].name == "top/" + long_name);
    CHECK(std::string(reinterpret_cast<const char*>(e[3].data), e[3].size) == "gnu");
    CHECK(e[4].name == "top/pax/" + long_name + ".txt");
    CHECK(std::string(reinterpret_cast<const char*>(e[4].data), e[4].size) == "pax");
    CHECK(e[5].name == "exact");
    CHECK(Bytes(e[5].data, e[5].data + 512) == random_bytes(512, 11));
  };
  write_bytes(dir.file("a.tar"), bytes);
  write_bytes(dir.file("a.tar.gz"), gzip(bytes, compressed()));
  check(TarArchive::read(dir.file("a.tar")));
  TarArchive moved = TarArchive::read(dir.file("a.tar.gz"));
  TarArchive archive = std::move(moved);  // entries stay valid: they point into the moved buffer
  check(archive);
  CHECK(archive.source() == dir.file("a.tar.gz"));

  const std::string path = dir.file("bad.tar");
  auto read_damaged = [&](const Bytes& b) {
    write_bytes(path, b);
    return TarArchive::read(path);
  };
  {
    Bytes b = bytes;
    b[512 + 5] ^= 1;  // a name byte of the second header
    CHECK_ERROR(read_damaged(b), path, "tar header at offset 512: header checksum mismatch");
  }
  CHECK_ERROR(read_damaged(Bytes(bytes.begin(), bytes.begin() + 1536 + 512 + 3)), path,
              "truncated: tar entry \"" + long_dir + "/b.bin\" at offset 1536 declares 1000 bytes, only 3 are left");
  CHECK_ERROR(read_damaged(Bytes(bytes.begin(), bytes.begin() + 1536)), path,
              "without its end-of-archive zero block");
  CHECK_ERROR(read_damaged(Bytes(bytes.begin(), bytes.begin() + 700)), path,
              "188 bytes at offset 512 are not a whole 512-byte tar header");
  {
    TarBuilder broken;
    broken.add("x", random_bytes(10, 1), '0', "", "00000000z12");
    CHECK_ERROR(read_damaged(broken.finish()), path, "the size field is not an octal number");
    TarBuilder huge;
    huge.add("big", random_bytes(10, 1), '0', "", "77777777777");
    CHECK_ERROR(read_damaged(huge.finish()), path, "tar entry \"big\" at offset 0 declares 8589934591 bytes");
  }
  CHECK_ERROR(read_damaged(random_bytes(2048, 12)), path, "the archive is corrupted or not a tar file");
  {
    Bytes gz = gzip(bytes);
    gz.resize(gz.size() - 100);
    CHECK_ERROR(read_damaged(gz), path, "truncated or corrupted");
  }
}

TEST_CASE("image archives: <anything>/<class>/<file> in a (gzipped) tar") {
  TempDir dir;
  TarBuilder tar;
  std::map<std::string, Image> images;
  auto add_png = [&](const std::string& name, int seed) {
    images[name] = pattern_image(5, 4, 3, seed);
    tar.add(name, encode_png(images[name]));
  };
  tar.add("set/", {}, '5');
  add_png("set/cat/2.png", 1);
  add_png("set/dog/1.png", 2);
  add_png("set/cat/1.png", 3);
  add_png("other/bird/x.png", 4);
  add_png("set/cat/._1.png", 5);  // macOS resource fork: hidden, skipped
  tar.add_text("README", "top-level files are not in a class");
  const std::string archive = dir.file("images.tar.gz");
  write_bytes(archive, gzip(tar.finish(), compressed()));

  const ImageDataset ds = load_image_archive(archive);
  REQUIRE(ds.size() == 4);
  CHECK(ds.class_names == std::vector<std::string>{"bird", "cat", "dog"});
  CHECK(ds.labels == std::vector<int>{0, 1, 1, 2});
  const std::vector<std::string> names = {"other/bird/x.png", "set/cat/1.png", "set/cat/2.png", "set/dog/1.png"};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(ds.paths[i] == archive + ":" + names[i]);
    CHECK(std::memcmp(ds.image(i), images[names[i]].pixels.data(), ds.image_bytes()) == 0);
  }
  ImageLoadOptions resize;
  resize.resize_height = resize.resize_width = 8;
  resize.channels = 1;
  const ImageDataset big = load_image_archive(archive, resize);
  CHECK(big.pixels.size() == 4 * 64);

  tar.add("set/dog/bad.jpg", Bytes{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F'});
  write_bytes(archive, gzip(tar.finish()));
  CHECK_ERROR(load_image_archive(archive), archive + ":set/dog/bad.jpg", "corrupt or truncated JPEG");

  TarBuilder flat;
  flat.add_text("README", "x");
  write_bytes(dir.file("flat.tar"), flat.finish());
  CHECK_ERROR(load_image_archive(dir.file("flat.tar")), "flat.tar", "holds no files in class folders");
}

DEEPHASH_OPTIONAL_TEST_CASE("CIFAR-10 JPEG archive (real data)") {
  const std::string path = std::string(DEEPHASH_SHARED_DATASETS) + "/cifar10-train-jpg.tar.gz";
  test::skip_unless(fs::exists(path), path + " not found (shared datasets are not on this machine)");
  const auto start = std::chrono::steady_clock::now();
  const ImageDataset ds = load_image_archive(path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("50,000 CIFAR-10 JPEGs read in " << seconds << " s");
  REQUIRE(ds.size() == 50000);
  CHECK(ds.height == 32);
  CHECK(ds.width == 32);
  CHECK(ds.channels == 3);
  CHECK(ds.class_names == cifar10_class_names());  // already in alphabetical order
  std::vector<std::size_t> histogram(10);
  for (int label : ds.labels) histogram.at(std::size_t(label))++;
  CHECK(histogram == std::vector<std::size_t>(10, 5000));
  CHECK(ends_with(ds.paths[0], ":train/airplane/0000.jpg"));
  CHECK(ends_with(ds.paths[4999], ":train/airplane/4999.jpg"));
  CHECK(ends_with(ds.paths[5000], ":train/automobile/0000.jpg"));
  CHECK(ends_with(ds.paths[49999], ":train/truck/4999.jpg"));
  // The published per-channel means of the CIFAR-10 training set (R 125.3, G 123.0, B 113.9);
  // JPEG re-encoding moves them by well under one level. A channel-order or layout mistake
  // would not land within the tolerance.
  double sum[3] = {0, 0, 0};
  for (std::size_t i = 0; i < ds.pixels.size(); ++i) sum[i % 3] += ds.pixels[i];
  const double n = double(ds.size()) * 1024;
  CHECK(sum[0] / n == doctest::Approx(125.3).epsilon(0.01));
  CHECK(sum[1] / n == doctest::Approx(123.0).epsilon(0.01));
  CHECK(sum[2] / n == doctest::Approx(113.9).epsilon(0.01));
}

// ================================================================================== list files

TEST_CASE("image list files") {
  TempDir dir;
  const std::string root = dir.file("root");
  std::map<std::string, Image> images;
  for (const char* name : {"imgs/a.png", "imgs/b.png", "imgs/with space.png", "c.png"}) {
    images[name] = pattern_image(3, 3, 3, int(images.size()) + 1);
    write_png_with_stb(root + "/" + name, images[name]);
  }
  const std::string list = dir.file("list.txt");
  write_text(list, "imgs/b.png 3\r\n\n  \nimgs/with space.png\t0\nc.png 3\nimgs/a.png 12 \n");
  const ImageDataset ds = load_image_list(list, root);
  REQUIRE(ds.size() == 4);
  CHECK(ds.labels == std::vector<int>{3, 0, 3, 12});
  CHECK(ds.class_names.size() == 13);
  CHECK(ds.class_names[12] == "12");
  CHECK(ds.class_names[1] == "1");
  CHECK(ds.num_classes() == 13);
  const std::vector<std::string> order = {"imgs/b.png", "imgs/with space.png", "c.png", "imgs/a.png"};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(ds.paths[i] == root + "/" + order[i]);
    CHECK(std::memcmp(ds.image(i), images[order[i]].pixels.data(), 27) == 0);
  }

  write_text(list, "imgs/a.png 0\n\nimgs/missing.png 1\n");
  CHECK_ERROR(load_image_list(list, root), list + ":3", "imgs/missing.png: cannot open");
  write_text(list, "imgs/a.png 0\nimgs/b.png -1\n");
  CHECK_ERROR(load_image_list(list, root), list + ":2", "the label \"-1\" is not a non-negative integer");
  write_text(list, "imgs/a.png 0\nimgs/b.png two\n");
  CHECK_ERROR(load_image_list(list, root), list + ":2", "the label \"two\"");
  write_text(list, "imgs/a.png 99999999999999999999\n");
  CHECK_ERROR(load_image_list(list, root), list + ":1", "not a non-negative integer");
  write_text(list, "imgs/a.png 0\nimgs/b.png\n");
  CHECK_ERROR(load_image_list(list, root), list + ":2", "found no label");
  write_text(list, "\n\n");
  CHECK_ERROR(load_image_list(list, root), list, "lists no images");
  CHECK_ERROR(load_image_list(dir.file("nolist.txt"), root), "nolist.txt", "cannot open");

  write_text(root + "/bad.jpg", "JFIF? no");
  write_text(list, "imgs/a.png 0\nbad.jpg 1\n");
  CHECK_ERROR(load_image_list(list, root), list + ":2", root + "/bad.jpg: cannot decode the image");
  write_png_with_stb(root + "/wide.png", pattern_image(3, 9, 3, 7));
  write_text(list, "imgs/a.png 0\nwide.png 1\n");
  CHECK_ERROR(load_image_list(list, root), list + ":2", "the image is 3x9 but the first image");
}
