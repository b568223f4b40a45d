// A frontend run by another inference library: OpenCV's dnn module executes a Caffe model (for
// instance the paper's released KevinNet), and deephash does the rest — thresholding, indexing,
// search. The library itself knows nothing about OpenCV; this file is all it takes.
//
//   opencv_frontend DEPLOY.prototxt WEIGHTS.caffemodel LATENT_BLOB SPEC
//
// encodes the images of SPEC (a folder, an archive, ...: see workflow/sets.hpp) with Caffe's
// preprocessing (256x256, centre crop 227, BGR, mean 104/117/123), then prints each image's code
// and its nearest other image by Hamming distance.

#include <cstdio>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <deephash/data/image_decode.hpp>
#include <deephash/data/transform.hpp>
#include <deephash/deephash.hpp>
#include <deephash/frontend.hpp>
#include <deephash/workflow/encoding.hpp>
#include <deephash/workflow/presets.hpp>
#include <deephash/workflow/sets.hpp>

class OpenCvFrontend : public deephash::Frontend {
 public:
  OpenCvFrontend(const std::string& prototxt, const std::string& weights, std::string latent_blob)
      : net_(cv::dnn::readNetFromCaffe(prototxt, weights)), latent_blob_(std::move(latent_blob)) {
    transform_ = deephash::caffe_imagenet_frontend().transform;  // KevinNet's preprocessing, as the presets have it
    // One forward pass on a blank image tells the code length.
    const int shape[] = {1, 3, 227, 227};
    net_.setInput(cv::Mat(4, shape, CV_32F, cv::Scalar(0)));
    bits_ = int(net_.forward(latent_blob_).total());
  }

  deephash::DecodeOptions decode_options() const override { return {3, 256, 256}; }

  int code_bits() const override { return bits_; }

  void encode(const deephash::ImageBatchView& images, float* activations, float*) override {
    const int shape[] = {int(images.count), 3, 227, 227};
    cv::Mat input(4, shape, CV_32F);
    for (std::size_t i = 0; i < images.count; ++i)
      deephash::transform_image(images[i], transform_, false, nullptr, input.ptr<float>(int(i)));
    net_.setInput(input);
    const cv::Mat out = net_.forward(latent_blob_);
    std::copy(out.ptr<float>(), out.ptr<float>() + images.count * std::size_t(bits_), activations);
  }

 private:
  cv::dnn::Net net_;
  std::string latent_blob_;
  deephash::TransformSpec transform_;
  int bits_ = 0;
};

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DEPLOY.prototxt WEIGHTS.caffemodel LATENT_BLOB SPEC\n"
                         "  SPEC: images as deephash names them, e.g. folder:photos or archive:photos.tar.gz\n", argv[0]);
    return 2;
  }
  try {
    OpenCvFrontend frontend(argv[1], argv[2], argv[3]);
    // The images stream through the frontend a batch at a time (decoded ahead, resized to its
    // decode_options()), whatever holds them.
    const auto images = deephash::open_image_source(argv[4]);
    deephash::EncodeOptions options;
    options.batch = 8;
    const deephash::EncodedSet encoded = deephash::encode_source(frontend, *images, {argv[4], "all", ""}, options);
    deephash::HammingIndex index(encoded.codes.bits());
    index.add(encoded.codes);
    const deephash::KnnResult r = index.search(encoded.codes, 2);  // itself, then its nearest other
    for (std::size_t i = 0; i < encoded.codes.size(); ++i) {
      std::printf("%s  code ", encoded.paths[i].c_str());
      for (int b = 0; b < encoded.codes.bits(); ++b) std::printf("%d", int(encoded.codes.bit(i, b)));
      const deephash::idx_t q = deephash::idx_t(i), rank = r.label(q, 0) == q ? 1 : 0;
      if (r.label(q, rank) >= 0)
        std::printf("  nearest: %s (Hamming %d)", encoded.paths[std::size_t(r.label(q, rank))].c_str(), int(r.distance(q, rank)));
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
