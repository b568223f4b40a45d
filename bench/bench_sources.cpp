// Streaming sources: peak memory against collection size, and decode + resize throughput.
//   bench_sources make DIR           writes DIR/small (256x256 JPEGs) and DIR/large (1024x768)
//   bench_sources rss DIR N          streams a list of N items (the small JPEGs, repeated) through
//                                    BatchStream into a consumer that keeps nothing; run it for N
//                                    and 4N: ru_maxrss is per process
//   bench_sources speed DIR WORKERS  images/s decoding and resizing to 227x227 (KevinNet's input)
//   bench_sources encode DIR SET N WORKERS
//                                    KevinNet (random weights, 2 network threads) over N images of
//                                    DIR/SET (small: 256x256, large: 1024x768 JPEGs): images/s from
//                                    images decoded beforehand, and streamed from the files with
//                                    WORKERS decoding threads; also the streamed run's peak RSS
//                                    (run it for N and 4N: ru_maxrss is per process)
// Each prints one JSON object.
#include <stb_image_write.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deephash/data/batch_stream.hpp>
#include <deephash/data/sources/folder_source.hpp>
#include <deephash/data/sources/list_source.hpp>
#include <deephash/data/subset_source.hpp>
#include <deephash/workflow/encoding.hpp>
#include <deephash/workflow/presets.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>

using namespace deephash;
namespace fs = std::filesystem;

namespace {

constexpr int kFiles = 400;  // distinct small JPEGs; larger collections repeat them

// A photo-like image: smooth gradients plus a little noise, so JPEG sizes are realistic.
void write_photo(const std::string& path, int height, int width, int seed) {
  std::mt19937 rng{std::uint32_t(seed)};
  std::vector<std::uint8_t> px(std::size_t(height) * width * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        px[(std::size_t(y) * width + x) * 3 + c] =
            std::uint8_t((x * (c + 1) * 255 / width + y * (3 - c) * 255 / height + seed * 17 + int(rng() % 24)) & 255);
  fs::create_directories(fs::path(path).parent_path());
  if (!stbi_write_jpg(path.c_str(), width, height, 3, px.data(), 90)) throw Error(path, "cannot write");
}

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

double stream_all(const ImageSource& source, std::size_t n, unsigned workers, std::size_t* count) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i % source.size();
  DecodeOptions options;
  options.resize_height = options.resize_width = 227;
  const auto start = std::chrono::steady_clock::now();
  BatchStream stream(source, order, 64, options, workers, 4);
  DecodedBatch b;
  std::size_t seen = 0;
  while (stream.next(b)) seen += b.size();  // keeps nothing
  *count = seen;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 2 ? argv[1] : "", dir = argc > 2 ? argv[2] : "";
    if (mode == "make") {
      for (int i = 0; i < kFiles; ++i)
        write_photo(dir + "/small/c" + std::to_string(i % 10) + "/" + std::to_string(i) + ".jpg", 256, 256, i);
      for (int i = 0; i < 40; ++i)
        write_photo(dir + "/large/c" + std::to_string(i % 4) + "/" + std::to_string(i) + ".jpg", 768, 1024, i);
      return 0;
    }
    if (mode == "rss" && argc == 4) {
      const std::size_t n = std::stoul(argv[3]);
      // A list file of n lines: the index grows with n as a real collection's would.
      const FolderSource folder(dir + "/small");
      const std::string list = dir + "/list-" + std::to_string(n) + ".txt";
      {
        std::ofstream out(list);
        for (std::size_t i = 0; i < n; ++i)
          out << fs::relative(folder.locator(i % folder.size()), dir + "/small").string() << " " << folder.label(i % folder.size()) << "\n";
      }
      const ListSource source(list, dir + "/small");
      std::size_t count = 0;
      const double seconds = stream_all(source, n, 2, &count);
      std::printf("{\"mode\": \"rss\", \"images\": %zu, \"seconds\": %.2f, \"peak_rss_kb\": %ld}\n", count, seconds, peak_rss_kb());
      return 0;
    }
    if (mode == "speed" && argc == 4) {
      const unsigned workers = unsigned(std::stoul(argv[3]));
      std::printf("{\"mode\": \"speed\", \"workers\": %u", workers);
      for (const char* set : {"small", "large"}) {
        const FolderSource source(dir + "/" + set);
        std::size_t count = 0;
        const double seconds = stream_all(source, set[0] == 's' ? 2000 : 200, workers, &count);
        std::printf(", \"%s_images_per_s\": %.1f", set[0] == 's' ? "jpeg_256x256" : "jpeg_1024x768", double(count) / seconds);
      }
      std::printf("}\n");
      return 0;
    }
    if (mode == "encode" && argc == 6) {
      const std::string set = argv[3];
      const std::size_t n = std::stoul(argv[4]);
      const unsigned workers = unsigned(std::stoul(argv[5]));
      nn::ArchitectureOptions o;
      o.batch = 1;
      const ArchitecturePreset kevinnet = architecture_preset("kevinnet", o, 3);
      nn::Net<float> init(kevinnet.net, nn::Phase::Test, nn::NetOptions::seeded(1));
      nn::CnnFrontend frontend(kevinnet.net, init.weights(), kevinnet.frontend, 2);
      // N items of the folder (repeated): a list of positions into it.
      const auto folder = std::make_shared<FolderSource>(dir + "/" + set);
      std::vector<std::size_t> items(n);
      for (std::size_t i = 0; i < n; ++i) items[i] = i % folder->size();
      const SubsetSource source(folder, items, folder->spec());
      EncodeOptions options;
      options.batch = 32;
      options.decode_workers = workers;
      options.show_progress = false;
      // One batch first, so that neither timed run pays for the net's first reshape to the batch.
      const ImageDataset warm = read_into_memory(SubsetSource(folder, {0}, "warm-up"), frontend.decode_options(), 1);
      encode_images(frontend, warm.all(), false, 1, "encode", false);
      {
        std::vector<std::uint8_t> pixels;
        for (int i = 0; i < 32; ++i) pixels.insert(pixels.end(), warm.pixels.begin(), warm.pixels.end());
        frontend.encode(ImageBatchView{warm.height, warm.width, warm.channels, pixels.data(), 32},
                        std::vector<float>(32 * std::size_t(frontend.code_bits())).data(), nullptr);
      }
      // Streamed: decoding threads ahead of the network, codes written in chunks.
      auto start = std::chrono::steady_clock::now();
      encode_source_to_file(frontend, source, {folder->spec(), "all", ""}, dir + "/codes.dhc", options);
      const double streamed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const long rss = peak_rss_kb();
      // Pre-decoded: the same images decoded (and resized to 256x256) first, then encoded.
      const ImageDataset decoded = read_into_memory(source, frontend.decode_options(), 2);
      start = std::chrono::steady_clock::now();
      encode_images(frontend, decoded.all(), false, options.batch, "encode", false);
      const double in_memory = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("{\"mode\": \"encode\", \"set\": \"%s\", \"images\": %zu, \"decode_workers\": %u, "
                  "\"streamed_images_per_s\": %.1f, \"predecoded_images_per_s\": %.1f, \"ratio\": %.3f, "
                  "\"streamed_peak_rss_kb\": %ld}\n",
                  set.c_str(), n, workers, double(n) / streamed, double(n) / in_memory, in_memory / streamed, rss);
      return 0;
    }
    std::fprintf(stderr, "usage: bench_sources make|rss|speed|encode DIR [N|WORKERS|SET N WORKERS]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
