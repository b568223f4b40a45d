// The bfloat16 products (nn/bf16_products.hpp) against double references on the same rounded
// inputs, and a Winograd convolution trained with them against the float one. Every case needs
// AVX-512 BF16 and is skipped (not passed) where this build's CPU target lacks it.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <deephash/nn/bf16_products.hpp>
#include <deephash/nn/layer_factory.hpp>
#include <deephash/nn/net_builder.hpp>

#include "support.hpp"

using namespace deephash;
using namespace deephash::nn;

namespace {

void require_bf16() {
  test::skip_unless(bf16::available(), "this build's CPU target has no AVX-512 BF16 (avx512_bf16)");
}

std::vector<float> normal_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return v;
}

}  // namespace

DEEPHASH_OPTIONAL_TEST_CASE("bf16 products: rounding to nearest even, as the hardware rounds") {
  require_bf16();
  // Hand-computed: bf16 keeps 7 fraction bits, so the step above 1 is 2^-7.
  CHECK(bf16::round_to_bf16(1.f + 0x1p-8f) == 1.f);                  // a tie: to the even 1
  CHECK(bf16::round_to_bf16(1.f + 3 * 0x1p-8f) == 1.f + 0x1p-6f);    // a tie: to the even 1 + 2^-6
  CHECK(bf16::round_to_bf16(1.f + 0x1p-8f + 0x1p-20f) == 1.f + 0x1p-7f);
  CHECK(bf16::round_to_bf16(-3.f) == -3.f);
  CHECK(std::isnan(bf16::round_to_bf16(std::nanf(""))));
  // The kernel's own rounding: a product with 1 returns its input as the instruction rounded it.
  std::vector<float> x = normal_floats(333, 1), one(1, 1.f), out(333);
  bf16::Workspace ws;
  bf16::multiply({x.data(), 1}, {one.data(), 1}, 333, 1, 1, out.data(), 1, false, ws);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(out[i] == bf16::round_to_bf16(x[i]));
}

DEEPHASH_OPTIONAL_TEST_CASE("bf16 products: every shape and transposition equals double on the rounded inputs") {
  require_bf16();
  struct Shape { int rows, depth, cols; };
  // One workspace for every shape, filled with large values first: no product may read what was
  // left in its buffers by an earlier, larger one.
  bf16::Workspace ws;
  ws.b.assign(std::size_t(1) << 20, 0x7f7f7f7fu);
  // Full and partial blocks of 8 rows and 48 columns, odd depths (a half-empty last pair).
  for (const Shape sh : {Shape{8, 32, 48}, Shape{13, 37, 61}, Shape{64, 128, 512}, Shape{3, 1, 5}, Shape{17, 255, 100}})
    for (const bool a_t : {false, true})
      for (const bool b_t : {false, true})
        for (const bool accumulate : {false, true}) {
          CAPTURE(sh.rows);
          CAPTURE(sh.depth);
          CAPTURE(sh.cols);
          CAPTURE(a_t);
          CAPTURE(b_t);
          CAPTURE(accumulate);
          const std::vector<float> a = normal_floats(std::size_t(sh.rows) * sh.depth, 2),
                                   b = normal_floats(std::size_t(sh.depth) * sh.cols, 3);
          // Stored as given (row-major op(A), op(B)) or transposed in memory, with padded strides.
          const std::ptrdiff_t pad = 3;
          const std::ptrdiff_t a_stride = (a_t ? sh.rows : sh.depth) + pad, b_stride = (b_t ? sh.depth : sh.cols) + pad;
          std::vector<float> am(std::size_t((a_t ? sh.depth : sh.rows) * a_stride)),
              bm(std::size_t((b_t ? sh.cols : sh.depth) * b_stride));
          for (int i = 0; i < sh.rows; ++i)
            for (int k = 0; k < sh.depth; ++k) am[a_t ? k * a_stride + i : i * a_stride + k] = a[std::size_t(i * sh.depth + k)];
          for (int k = 0; k < sh.depth; ++k)
            for (int j = 0; j < sh.cols; ++j) bm[b_t ? j * b_stride + k : k * b_stride + j] = b[std::size_t(k * sh.cols + j)];
          const std::ptrdiff_t ldc = sh.cols + 1;
          std::vector<float> c = normal_floats(std::size_t(sh.rows * ldc), 4), before = c;
          bf16::multiply({am.data(), a_stride, a_t}, {bm.data(), b_stride, b_t}, sh.rows, sh.depth, sh.cols, c.data(), ldc,
                         accumulate, ws);
          double worst = 0;
          for (int i = 0; i < sh.rows; ++i)
            for (int j = 0; j < sh.cols; ++j) {
              double want = accumulate ? before[std::size_t(i * ldc + j)] : 0, magnitude = std::abs(want);
              for (int k = 0; k < sh.depth; ++k) {
                const double p = double(bf16::round_to_bf16(a[std::size_t(i * sh.depth + k)])) *
                                 bf16::round_to_bf16(b[std::size_t(k * sh.cols + j)]);
                want += p;
                magnitude += std::abs(p);
              }
              // Float sums of exact products: at most depth roundings of 2^-24 of the running sum.
              worst = std::max(worst, std::abs(c[std::size_t(i * ldc + j)] - want) / (magnitude + 1e-30));
            }
          CHECK(worst < 1e-6 * (sh.depth + 1));
          for (std::ptrdiff_t i = 0; i < sh.rows; ++i)  // the padding column is not written
            CHECK(c[std::size_t(i * ldc + sh.cols)] == before[std::size_t(i * ldc + sh.cols)]);
        }
}

DEEPHASH_OPTIONAL_TEST_CASE("bf16 products: layers trained with them stay within bf16 rounding of float") {
  require_bf16();
  // conv2a of the CIFAR net (64 -> 128 at 16x16, Winograd) and fc1 of the Fashion-MNIST net
  // (3,136 -> 256), forward and backward, float against bf16.
  struct Case {
    LayerSpec spec;
    std::vector<int> input;
  };
  LayerSpec conv;
  conv.type = "Convolution";
  conv.name = "conv";
  conv.convolution = {128, true, 3, 3, 1, 1, 1, 1, 1, 1, gaussian_filler(0.05f), gaussian_filler(0.1f)};
  LayerSpec fc;
  fc.type = "InnerProduct";
  fc.name = "fc";
  fc.inner_product.num_output = 256;
  fc.inner_product.weight_filler = gaussian_filler(0.02f);
  fc.inner_product.bias_filler = gaussian_filler(0.1f);
  for (const Case& k : {Case{conv, {3, 64, 16, 16}}, Case{fc, {37, 64, 7, 7}}}) {
    CAPTURE(k.spec.type);
    const LayerSpec& s = k.spec;
    Blob<float> x(k.input), y32, y16, x16(k.input);
    test::fill_normal(x, 11, 0.0, 1.0);
    x16.data_vector() = x.data_vector();
    auto f32 = make_layer<float>(s), f16 = make_layer<float>(s);
    std::mt19937_64 r1(12), r2(12);
    f32->setup({&x}, r1);
    f16->setup({&x16}, r2);
    f32->reshape({&x}, {&y32});
    f16->reshape({&x16}, {&y16});
    ThreadPool pool(2);
    RunContext plain{Phase::Train, &pool, nullptr}, rounded = plain;
    rounded.bf16_products = true;
    f32->forward({&x}, {&y32}, plain);
    f16->forward({&x16}, {&y16}, rounded);
    Blob<float> output_grad(y32.shape());  // the same for both
    test::fill_normal(output_grad, 13, 0.0, 1.0);
    y32.diff_vector() = output_grad.data_vector();
    y16.diff_vector() = output_grad.data_vector();
    f32->backward({&y32}, {true}, {&x}, plain);
    f16->backward({&y16}, {true}, {&x16}, rounded);
    // Each measure: the largest difference against the largest value. bf16 rounds each factor by
    // up to 2^-9 relative; sums of many products of random sign average that out.
    auto relative = [](const float* a, const float* b, std::size_t n) {
      double worst = 0, scale = 0;
      for (std::size_t i = 0; i < n; ++i) {
        worst = std::max(worst, double(std::abs(a[i] - b[i])));
        scale = std::max(scale, double(std::abs(a[i])));
      }
      return worst / scale;
    };
    const double output = relative(y32.data(), y16.data(), y32.count());
    const double input_grad = relative(x.diff(), x16.diff(), x.count());
    const double weight_grad = relative(f32->params()[0]->diff(), f16->params()[0]->diff(), f32->params()[0]->count());
    CAPTURE(output);
    CAPTURE(input_grad);
    CAPTURE(weight_grad);
    // The products did run in bf16: float products in another order differ by ~1e-7, not 1e-5.
    CHECK(output > 1e-5);
    CHECK(input_grad > 1e-5);
    CHECK(weight_grad > 1e-5);
    CHECK(output < 1e-2);
    CHECK(input_grad < 1e-2);
    CHECK(weight_grad < 1e-2);
  }
}
