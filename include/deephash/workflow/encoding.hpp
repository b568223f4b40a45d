#pragma once
// Encoding an image source with a frontend, batch by batch: images are decoded on worker threads
// ahead of the network (data/batch_stream.hpp), and the codes (and rerank features) go either
// into memory or straight into an encoded-set file in chunks, so that memory does not grow with
// the collection. The file appears, whole, only when the last chunk is written.

#include <string>
#include <vector>

#include "deephash/codes/binarize.hpp"
#include "deephash/codes/encoded_set.hpp"
#include "deephash/core/progress.hpp"
#include "deephash/data/batch_stream.hpp"
#include "deephash/data/image_source.hpp"
#include "deephash/data/subset_source.hpp"
#include "deephash/data/unreadable_items.hpp"
#include "deephash/frontend.hpp"
#include "deephash/io/container/codes_file.hpp"

namespace deephash {

struct EncodeOptions {
  bool with_features = false;    // also the rerank features (fc7 / fc1)
  std::size_t batch = 64;        // images per network pass
  unsigned decode_workers = 1;   // threads decoding ahead of the network
  std::size_t prefetch_batches = 4;
  bool show_progress = true;
  std::string label = "encode";
  // The frontend's model as the set records it (io/container/model_file.hpp's model_digest), so
  // that sets of other models are refused where they meet; "" when there is none to name.
  std::string model_digest;
  // Leave out the items that cannot be read (and say which, and record how many in the set)
  // instead of failing; without it, a failure names every unreadable item.
  bool skip_unreadable = false;
};

// Where the images of an encoded set came from; stored with the codes (codes/encoded_set.hpp).
struct Provenance {
  std::string source;   // the SPEC the images were opened from
  std::string role;     // database, queries, validation or all
  std::string holdout;  // the hold-out rule that chose them (HoldOutRule::describe()), "" if none
};

// An encoded set with no codes yet: what is known of the images before encoding them.
inline EncodedSet describe_encoded_set(const ImageSource& images, const Provenance& provenance, int bits,
                                       const std::string& model_digest = "") {
  EncodedSet s;
  s.model = model_digest;
  s.codes = BitCodes(0, bits);
  s.labels = images.labels();
  s.class_names = images.class_names();
  s.source = provenance.source;
  s.role = provenance.role;
  s.holdout = provenance.holdout;
  s.paths.reserve(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) s.paths.push_back(images.locator(i));
  return s;
}

// Runs the frontend over every item of `images` in order and hands each batch's results to
// sink(first_item, codes, activations, features): codes of that batch, features empty unless asked.
template <class Sink>
void encode_batches(Frontend& frontend, const ImageSource& images, const EncodeOptions& o, Sink&& sink) {
  const int bits = frontend.code_bits(), dim = o.with_features ? frontend.feature_dim() : 0;
  if (o.with_features && dim <= 0) throw Error(o.label, "the frontend gives no features for reranking");
  std::vector<std::size_t> order(images.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  BatchStream stream(images, std::move(order), o.batch, frontend.decode_options(), o.decode_workers, o.prefetch_batches);
  ProgressBar progress(o.label, images.size());
  RowMatrixXf activations, features;
  DecodedBatch batch;
  std::size_t done = 0;
  while (stream.next(batch)) {
    const ImageBatchView view = batch.view();
    activations.resize(Eigen::Index(view.count), bits);
    features.resize(Eigen::Index(dim > 0 ? view.count : 0), dim);
    frontend.encode(view, activations.data(), dim > 0 ? features.data() : nullptr);
    sink(done, binarize(activations), activations, features);
    done += view.count;
    if (o.show_progress) progress.update(done);
  }
  if (o.show_progress) progress.finish();
}

namespace detail {

// Runs encode(readable items, how many were left out) over `images`. The items are known before
// encoding starts (a set's file begins with their labels and locators), so unreadable ones are
// found by a pass of their own: first, when they are to be skipped; else only once encoding has
// failed, to name every one in the error rather than the first. Returns the items left out.
template <class Encode>
std::vector<UnreadableItem> encode_readable(Frontend& frontend, const ImageSource& images, const EncodeOptions& o, Encode&& encode) {
  const int channels = frontend.decode_options().channels;
  if (!o.skip_unreadable) {
    try {
      encode(images, std::size_t(0));
    } catch (const Error&) {
      const std::vector<UnreadableItem> bad = find_unreadable_items(images, channels, o.decode_workers);
      if (bad.empty()) throw;
      throw Error(images.spec(), describe_unreadable_items(bad) + "\n(EncodeOptions::skip_unreadable, `deephash encode --skip-unreadable`, encodes the rest)");
    }
    return {};
  }
  std::vector<UnreadableItem> bad = find_unreadable_items(images, channels, o.decode_workers);
  if (bad.empty()) {
    encode(images, std::size_t(0));
    return bad;
  }
  std::vector<std::size_t> readable;
  for (std::size_t i = 0, b = 0; i < images.size(); ++i) {
    if (b < bad.size() && bad[b].item == i) ++b;
    else readable.push_back(i);
  }
  if (readable.empty()) throw Error(images.spec(), "holds no readable image: " + describe_unreadable_items(bad));
  const SubsetSource subset(borrowed_source(images), std::move(readable), images.spec());
  encode(subset, bad.size());
  return bad;
}

}  // namespace detail

// The codes (and features) of every item, with labels, class names and locators.
inline EncodedSet encode_source(Frontend& frontend, const ImageSource& images, const Provenance& provenance,
                                const EncodeOptions& o = {}) {
  EncodedSet s;
  detail::encode_readable(frontend, images, o, [&](const ImageSource& readable, std::size_t skipped) {
    s = describe_encoded_set(readable, provenance, frontend.code_bits(), o.model_digest);
    s.skipped = skipped;
    if (o.with_features) s.features.resize(Eigen::Index(readable.size()), frontend.feature_dim());
    encode_batches(frontend, readable, o, [&](std::size_t first, const BitCodes& codes, const RowMatrixXf&, const RowMatrixXf& f) {
      s.codes.append(codes);
      if (f.size()) s.features.middleRows(Eigen::Index(first), f.rows()) = f;
    });
  });
  return s;
}

// The same, streamed to an encoded-set file: memory holds one batch, not the collection.
// Returns the items left out (skip_unreadable).
inline std::vector<UnreadableItem> encode_source_to_file(Frontend& frontend, const ImageSource& images,
                                                         const Provenance& provenance, const std::string& path,
                                                         const EncodeOptions& o = {}) {
  return detail::encode_readable(frontend, images, o, [&](const ImageSource& readable, std::size_t skipped) {
    EncodedSet header = describe_encoded_set(readable, provenance, frontend.code_bits(), o.model_digest);
    header.skipped = skipped;
    EncodedSetWriter writer(path, header, readable.size(), o.with_features ? frontend.feature_dim() : 0);
    encode_batches(frontend, readable, o, [&](std::size_t, const BitCodes& codes, const RowMatrixXf&, const RowMatrixXf& f) {
      writer.append(codes, f);
    });
    writer.commit();
  });
}

}  // namespace deephash
