#pragma once
// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for 3x3 convolutions with stride 1: each 2x2 block of outputs ("tile") is
// computed from the 4x4 input window under it with 16 multiplications per channel pair instead of
// 36, so the matrix products that dominate training shrink 2.25x.
//
// With input windows d (4x4), a kernel g (3x3) and the transforms below,
//     V = Bt d B,   U = G g Gt,   M = sum over input channels of U .* V,   Y = At M A;
// the 16 entries of M are 16 independent matrix products M_p = U_p V_p (out x in times in x tiles).
// Training takes the exact adjoint of each step, so the gradients are those of this forward pass:
//     dM = A dY At,   dU_p = dM_p V_p^T,   dV_p = U_p^T dM_p,   dd = B dV Bt,   dg = Gt dU G.
// The input gradient adds each window's dd back where the window came from (windows overlap by 2).

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "deephash/core/aligned_buffer.hpp"
#include "deephash/nn/bf16_products.hpp"
#include "deephash/nn/im2col.hpp"

namespace deephash::nn {

// Winograd applies to 3x3 kernels with stride 1 and no dilation; any padding and image size. With
// few input channels (an RGB image) its 16 products are too thin to pay for the transforms: the
// CIFAR net's first layer (3 -> 32) takes 3.3 ms per batch this way against 2.1 ms by im2col.
inline bool winograd_applies(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dilation == 1 &&
         g.channels >= 16;
}

namespace winograd {

constexpr int kPositions = 16;  // entries of a transformed 4x4 window

// Buffers only grow: a smaller block after a larger one reuses the memory without refilling it.
template <class S>
inline void ensure_size(AlignedVector<S>& buffer, std::size_t size) {
  if (buffer.size() < size) buffer.resize(size);
}

// The kernel transform in one dimension (u = G g), applied to columns and then rows, over n
// kernels at once: each of its three inputs and four outputs an array.
template <class S>
inline void kernel_1d_arrays(const S* __restrict g0, const S* __restrict g1, const S* __restrict g2, S* __restrict u0,
                             S* __restrict u1, S* __restrict u2, S* __restrict u3, int n) {
  for (int k = 0; k < n; ++k) {
    u0[k] = g0[k];
    u1[k] = S(0.5) * (g0[k] + g1[k] + g2[k]);
    u2[k] = S(0.5) * (g0[k] - g1[k] + g2[k]);
    u3[k] = g2[k];
  }
}
template <class S>
inline void kernel_adjoint_1d(const S* u, int ustep, S* g, int step) {  // g = Gt u
  g[0] = u[0] + S(0.5) * (u[ustep] + u[2 * ustep]);
  g[step] = S(0.5) * (u[ustep] - u[2 * ustep]);
  g[2 * step] = S(0.5) * (u[ustep] + u[2 * ustep]) + u[3 * ustep];
}
// The input transform's two halves, as free functions so that the compiler knows the arrays
// apart (and vectorises the long rows). transform_row: for the n windows of a padded image row
// q (window k covers q[2k .. 2k + 3]), the four entries of d B, each as an array over the
// windows: b[j * jstride + k].
template <class S>
inline void transform_row(const S* __restrict q, int n, S* __restrict b, std::size_t jstride) {
  S *__restrict b0 = b, *__restrict b1 = b + jstride, *__restrict b2 = b + 2 * jstride, *__restrict b3 = b + 3 * jstride;
  for (int k = 0; k < n; ++k) {
    b0[k] = q[2 * k] - q[2 * k + 2];
    b1[k] = q[2 * k + 1] + q[2 * k + 2];
    b2[k] = q[2 * k + 2] - q[2 * k + 1];
    b3[k] = q[2 * k + 1] - q[2 * k + 3];
  }
}
// combine_rows: Bt over the four rows r0..r3 of one column of (d B), n windows long, into the
// four positions v[i * 4 * stride] (i = 0..3) of V.
template <class S>
inline void combine_rows(const S* __restrict r0, const S* __restrict r1, const S* __restrict r2, const S* __restrict r3,
                         int n, S* __restrict v, std::size_t stride) {
  S *__restrict v0 = v, *__restrict v1 = v + 4 * stride, *__restrict v2 = v + 8 * stride, *__restrict v3 = v + 12 * stride;
  for (int k = 0; k < n; ++k) {
    v0[k] = r0[k] - r2[k];
    v1[k] = r1[k] + r2[k];
    v2[k] = r2[k] - r1[k];
    v3[k] = r1[k] - r3[k];
  }
}
}  // namespace winograd

// The transformed kernels and the work buffers of one convolution layer. The caller runs
// forward / backward on blocks of whole images (from several threads, one Workspace each) and
// keeps the weights' transform U and its gradient dU here; kernel_gradient turns dU into dW.
template <class Scalar>
class Winograd3x3 {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<Matrix>;

  // Per-thread buffers: the transformed inputs V and products M for a block of images.
  struct Workspace {
    AlignedVector<Scalar> v, m;
    AlignedVector<Scalar> rows;  // a row of tiles' intermediate values in the transforms
    Matrix kernel_grad;  // dU, 16 blocks of out x in, summed over this thread's images
    bf16::Workspace bf16;
  };

  Winograd3x3(const ConvGeometry& g, int out_channels)
      : g_(g), out_(out_channels), tiles_h_((g.out_h() + 1) / 2), tiles_w_((g.out_w() + 1) / 2) {}

  bool same_shape(const ConvGeometry& g, int out_channels) const {
    return out_ == out_channels && g_.channels == g.channels && g_.height == g.height && g_.width == g.width &&
           g_.pad_h == g.pad_h && g_.pad_w == g.pad_w;
  }
  int tiles_per_image() const { return tiles_h_ * tiles_w_; }
  // Images per block: enough tiles for efficient products, few enough to keep V and M in cache
  // (BM_TrainCifarNet with bf16 products, 2 threads: 256 tiles 80.5-81.6 ms a step, 512 81.4-86.0).
  int images_per_block() const { return std::max(1, 256 / tiles_per_image()); }

  // Whether the 16 products round their operands to bfloat16 (nn/bf16_products.hpp): only for
  // float, only where the CPU has the instruction; set before set_kernels.
  static constexpr bool can_use_bf16() { return std::is_same_v<Scalar, float> && bf16::available(); }
  void use_bf16(bool on) { bf16_ = on && can_use_bf16(); }

  // U = G g Gt for weights (out, in, 3, 3); with bf16 products also U and its transpose packed.
  // Weights equal to the last ones transformed (backward after forward on the same step) keep
  // the transforms already made: comparing costs a read of the weights, transforming them a
  // scattered write of 16 copies.
  void set_kernels(const Scalar* w) {
    const int in = g_.channels;
    const std::size_t weights = std::size_t(out_) * in * 9;
    if (kernels_bf16_ == bf16_ && last_weights_.size() == weights && std::equal(w, w + weights, last_weights_.begin()))
      return;
    last_weights_.assign(w, w + weights);
    kernels_bf16_ = bf16_;
    winograd::ensure_size(u_, std::size_t(winograd::kPositions) * out_ * in);
    // One output channel at a time, as arrays over its input channels: the nine taps gathered
    // into nine arrays, then G g Gt over whole arrays, written straight into U's 16 rows.
    winograd::ensure_size(kernel_scratch_, std::size_t(21) * in);
    Scalar *taps = kernel_scratch_.data(), *t = taps + std::size_t(9) * in;  // g(r, col), t(r, col)
    auto tap = [&](Scalar* base, int i) { return base + std::size_t(i) * in; };
    for (int o = 0; o < out_; ++o) {
      const Scalar* k = w + std::size_t(o) * in * 9;
      for (int c = 0; c < in; ++c)
        for (int i = 0; i < 9; ++i) taps[std::size_t(i) * in + std::size_t(c)] = k[std::size_t(c) * 9 + std::size_t(i)];
      for (int col = 0; col < 3; ++col)  // t = G g (4x3)
        winograd::kernel_1d_arrays(tap(taps, col), tap(taps, 3 + col), tap(taps, 6 + col), tap(t, col), tap(t, 3 + col),
                                   tap(t, 6 + col), tap(t, 9 + col), in);
      for (int row = 0; row < 4; ++row) {  // u = t Gt
        auto u = [&](int s) { return u_.data() + (std::size_t(4 * row + s) * out_ + o) * in; };
        winograd::kernel_1d_arrays(tap(t, 3 * row), tap(t, 3 * row + 1), tap(t, 3 * row + 2), u(0), u(1), u(2), u(3), in);
      }
    }
    if constexpr (can_use_bf16()) {
      if (!bf16_) return;
      packed_u_.resize(winograd::kPositions);
      packed_ut_.resize(winograd::kPositions);
      for (int p = 0; p < winograd::kPositions; ++p) {
        const float* up = u_.data() + std::size_t(p) * out_ * in;
        bf16::pack_rows({up, in}, out_, in, packed_u_[std::size_t(p)]);
        bf16::pack_rows({up, in, true}, in, out_, packed_ut_[std::size_t(p)]);
      }
    }
  }

  // Y for `images` images from `input` (images x in x h x w) into `output` (images x out x oh x ow).
  void forward(Workspace& ws, const Scalar* input, int images, const Scalar* bias, Scalar* output) const {
    const int tiles = images * tiles_per_image();
    transform_input(input, images, ws);
    winograd::ensure_size(ws.m, std::size_t(winograd::kPositions) * out_ * tiles);
    for (int p = 0; p < winograd::kPositions; ++p) {
      if constexpr (can_use_bf16())
        if (bf16_) {
          bf16::multiply(packed_u_[std::size_t(p)], {v_block(ws.v, p, tiles).data(), tiles}, tiles,
                         m_block(ws.m, p, tiles).data(), tiles, false, ws.bf16);
          continue;
        }
      m_block(ws.m, p, tiles).noalias() = u_block(p) * v_block(ws.v, p, tiles);
    }
    transform_output(ws.m, images, bias, output, ws);
  }

  // Adds this block's kernel gradient into ws.kernel_grad and, if input_grad is not null, writes
  // the block's input gradient (images x in x h x w, overwritten).
  void backward(Workspace& ws, const Scalar* input, const Scalar* output_grad, int images, Scalar* input_grad) const {
    const int tiles = images * tiles_per_image(), in = g_.channels;
    transform_input(input, images, ws);
    transform_output_grad(output_grad, images, ws);
    if (ws.kernel_grad.rows() != winograd::kPositions * out_ || ws.kernel_grad.cols() != in)
      ws.kernel_grad.setZero(winograd::kPositions * out_, in);
    for (int p = 0; p < winograd::kPositions; ++p) {
      if constexpr (can_use_bf16())
        if (bf16_) {  // dU_p += dM_p V_p^T
          bf16::multiply({m_block(ws.m, p, tiles).data(), tiles}, {v_block(ws.v, p, tiles).data(), tiles, true}, out_,
                         tiles, in, ws.kernel_grad.data() + std::size_t(p) * out_ * in, in, true, ws.bf16);
          continue;
        }
      ws.kernel_grad.middleRows(p * out_, out_).noalias() += m_block(ws.m, p, tiles) * v_block(ws.v, p, tiles).transpose();
    }
    if (!input_grad) return;
    for (int p = 0; p < winograd::kPositions; ++p) {
      if constexpr (can_use_bf16())
        if (bf16_) {  // dV_p = U_p^T dM_p
          bf16::multiply(packed_ut_[std::size_t(p)], {m_block(ws.m, p, tiles).data(), tiles}, tiles,
                         v_block(ws.v, p, tiles).data(), tiles, false, ws.bf16);
          continue;
        }
      v_block(ws.v, p, tiles).noalias() = u_block(p).transpose() * m_block(ws.m, p, tiles);
    }
    transform_input_grad(ws.v, images, input_grad, ws);
  }

  // dW (out, in, 3, 3) += Gt dU G, for dU summed over all images.
  void add_kernel_gradient(const Matrix& kernel_grad, Scalar* w_grad) const {
    const int in = g_.channels;
    for (int o = 0; o < out_; ++o)
      for (int c = 0; c < in; ++c) {
        Scalar u[16], t[12], k[9];
        for (int p = 0; p < winograd::kPositions; ++p) u[p] = kernel_grad(p * out_ + o, c);
        for (int col = 0; col < 4; ++col) winograd::kernel_adjoint_1d(u + col, 4, t + col, 4);  // t = Gt u (3x4)
        for (int row = 0; row < 3; ++row) winograd::kernel_adjoint_1d(t + 4 * row, 1, k + 3 * row, 1);  // k = t G
        Scalar* dw = w_grad + (std::size_t(o) * in + c) * 9;
        for (int i = 0; i < 9; ++i) dw[i] += k[i];
      }
  }

 private:
  Map u_block(int p) const {
    return Map(const_cast<Scalar*>(u_.data()) + std::size_t(p) * out_ * g_.channels, out_, g_.channels);
  }
  Map v_block(AlignedVector<Scalar>& v, int p, int tiles) const {
    return Map(v.data() + std::size_t(p) * g_.channels * tiles, g_.channels, tiles);
  }
  Map m_block(AlignedVector<Scalar>& m, int p, int tiles) const {
    return Map(m.data() + std::size_t(p) * out_ * tiles, out_, tiles);
  }

  // Each transform works on one channel of a block at a time, as 16 (or 4) arrays over the
  // block's tiles, so that the arithmetic runs over contiguous vectors. Window tx of a row of
  // tiles covers padded columns 2tx .. 2tx+3.
  using Array = Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
  using ConstArray = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>;

  // The column-transformed rows of one image (d B, or its gradient), grouped so that whole images
  // combine at once: for each column j of d B and each parity of the padded row number, the
  // rows of that parity one after the other, each tiles_w_ windows long. Padded row r is
  // row(j, r % 2, r / 2), and tile row ty's four window rows are rows ty and ty + 1 of either
  // parity, so each of them, taken over all tile rows, is one contiguous array.
  struct RowsByParity {
    Scalar* base;
    std::size_t parity_rows, column_stride;  // rows of one parity; all rows of one column j
    int tw;
    Scalar* row(int j, int parity, int ty) const {
      return base + std::size_t(j) * column_stride + std::size_t(parity) * parity_rows + std::size_t(ty) * std::size_t(tw);
    }
  };
  RowsByParity rows_by_parity(Scalar* base) const {
    const std::size_t parity_rows = std::size_t(tiles_h_ + 1) * std::size_t(tiles_w_);
    return {base, parity_rows, 2 * parity_rows, tiles_w_};
  }
  std::size_t rows_by_parity_size() const { return 8 * std::size_t(tiles_h_ + 1) * std::size_t(tiles_w_); }

  // V[p][c][tile] = (Bt d B)[p] for the input window d of each tile, zero outside the image.
  // The transform is separable: d B mixes the four columns of each window row, Bt then mixes the
  // four rows. Windows of neighbouring tile rows share two image rows, so each padded image row
  // is column-transformed once, into rows grouped by parity (RowsByParity), and Bt then combines
  // contiguous arrays over all the image's tiles instead of single rows of 2 to 16 tiles.
  void transform_input(const Scalar* input, int images, Workspace& ws) const {
    const int in = g_.channels, tiles = images * tiles_per_image(), tw = tiles_w_;
    const int padded_rows = 2 * tiles_h_ + 2, padded_cols = 2 * tw + 2;
    winograd::ensure_size(ws.v, std::size_t(winograd::kPositions) * in * tiles);
    winograd::ensure_size(ws.rows, rows_by_parity_size() + padded_cols);
    const RowsByParity rows = rows_by_parity(ws.rows.data());
    Scalar* padded = ws.rows.data() + rows_by_parity_size();
    const std::size_t plane = std::size_t(g_.height) * g_.width, stride = std::size_t(in) * tiles;
    // Padded column q holds pixel x = q - pad_w where 0 <= x < width.
    const int x0 = std::max(0, -g_.pad_w), x1 = std::min(g_.width, padded_cols - g_.pad_w);
    std::fill(padded, padded + padded_cols, Scalar(0));
    for (int c = 0; c < in; ++c)
      for (int img = 0; img < images; ++img) {
        const Scalar* image = input + (std::size_t(img) * in + c) * plane;
        for (int r = 0; r < padded_rows; ++r) {  // (d B) for every window of padded row r
          Scalar* b = rows.row(0, r % 2, r / 2);
          const int y = r - g_.pad_h;
          if (y < 0 || y >= g_.height) {
            for (int j = 0; j < 4; ++j) std::fill(rows.row(j, r % 2, r / 2), rows.row(j, r % 2, r / 2) + tw, Scalar(0));
            continue;
          }
          std::copy(image + std::size_t(y) * g_.width + x0, image + std::size_t(y) * g_.width + x1, padded + x0 + g_.pad_w);
          winograd::transform_row(padded, tw, b, rows.column_stride);
        }
        Scalar* v = ws.v.data() + std::size_t(c) * tiles + std::size_t(img) * tiles_per_image();
        for (int j = 0; j < 4; ++j)  // V = Bt (d B): window rows 2ty .. 2ty + 3 of every tile at once
          winograd::combine_rows(rows.row(j, 0, 0), rows.row(j, 1, 0), rows.row(j, 0, 1), rows.row(j, 1, 1),
                                 tiles_per_image(), v + j * stride, stride);
      }
  }

  // Y = At M A per tile, the part of each 2x2 block that lies inside the output, plus the bias.
  void transform_output(AlignedVector<Scalar>& m, int images, const Scalar* bias, Scalar* output,
                        Workspace& ws) const {
    const int oh = g_.out_h(), ow = g_.out_w(), tiles = images * tiles_per_image();
    winograd::ensure_size(ws.rows, std::size_t(12) * tiles);
    Scalar *t = ws.rows.data(), *y = t + std::size_t(8) * tiles;
    auto at = [tiles](Scalar* base, int p) { return Array(base + std::size_t(p) * tiles, tiles); };
    const std::size_t stride = std::size_t(out_) * tiles;
    for (int o = 0; o < out_; ++o) {
      const Scalar* mo = m.data() + std::size_t(o) * tiles;
      auto mp = [&](int p) { return Array(const_cast<Scalar*>(mo) + p * stride, tiles); };
      for (int j = 0; j < 4; ++j) {  // t = At M
        at(t, j) = mp(j) + mp(4 + j) + mp(8 + j);
        at(t, 4 + j) = mp(4 + j) - mp(8 + j) - mp(12 + j);
      }
      const Scalar b = bias ? bias[o] : Scalar(0);
      for (int i = 0; i < 2; ++i) {  // Y = t A, plus the bias
        at(y, 2 * i) = at(t, 4 * i) + at(t, 4 * i + 1) + at(t, 4 * i + 2) + b;
        at(y, 2 * i + 1) = at(t, 4 * i + 1) - at(t, 4 * i + 2) - at(t, 4 * i + 3) + b;
      }
      for (int img = 0; img < images; ++img) {  // scatter the 2x2 blocks, cropped to the output
        Scalar* plane = output + (std::size_t(img) * out_ + o) * oh * ow;
        for (int ty = 0; ty < tiles_h_; ++ty) {
          const std::size_t t0 = std::size_t(img) * tiles_per_image() + std::size_t(ty) * tiles_w_;
          for (int i = 0; i < 2 && 2 * ty + i < oh; ++i)
            interleave(y + std::size_t(2 * i) * tiles + t0, y + std::size_t(2 * i + 1) * tiles + t0,
                       plane + std::size_t(2 * ty + i) * ow, ow);
        }
      }
    }
  }

  // out[2k] = even[k], out[2k + 1] = odd[k] for the `width` entries of out.
  static void interleave(const Scalar* __restrict even, const Scalar* __restrict odd, Scalar* __restrict out, int width) {
    const int pairs = width / 2;
    for (int k = 0; k < pairs; ++k) out[2 * k] = even[k], out[2 * k + 1] = odd[k];
    if (width % 2) out[width - 1] = even[pairs];
  }

  // dM = A dY At per tile (dY zero where the tile leaves the output), into ws.m.
  void transform_output_grad(const Scalar* output_grad, int images, Workspace& ws) const {
    const int oh = g_.out_h(), ow = g_.out_w(), tiles = images * tiles_per_image(), n = tiles_w_;
    winograd::ensure_size(ws.m, std::size_t(winograd::kPositions) * out_ * tiles);
    winograd::ensure_size(ws.rows, std::size_t(12) * tiles);
    Scalar *g = ws.rows.data(), *t = g + std::size_t(4) * tiles;  // g[2i + j]: dY at (i, j) of each tile
    auto at = [tiles](Scalar* base, int p) { return Array(base + std::size_t(p) * tiles, tiles); };
    const std::size_t stride = std::size_t(out_) * tiles;
    for (int o = 0; o < out_; ++o) {
      for (int img = 0; img < images; ++img) {  // gather each tile's 2x2 block of dY
        const Scalar* plane = output_grad + (std::size_t(img) * out_ + o) * oh * ow;
        for (int ty = 0; ty < tiles_h_; ++ty) {
          const std::size_t t0 = std::size_t(img) * tiles_per_image() + std::size_t(ty) * tiles_w_;
          for (int i = 0; i < 2; ++i) {
            Scalar *__restrict even = g + std::size_t(2 * i) * tiles + t0, *__restrict odd = even + tiles;
            if (2 * ty + i >= oh) {
              std::fill(even, even + n, Scalar(0));
              std::fill(odd, odd + n, Scalar(0));
              continue;
            }
            const Scalar* __restrict row = plane + std::size_t(2 * ty + i) * ow;
            const int pairs = ow / 2;
            for (int k = 0; k < pairs; ++k) even[k] = row[2 * k], odd[k] = row[2 * k + 1];
            if (pairs < n) even[pairs] = row[2 * pairs], odd[pairs] = Scalar(0);
          }
        }
      }
      for (int j = 0; j < 2; ++j) {  // t = A dY
        at(t, j) = at(g, j);
        at(t, 2 + j) = at(g, j) + at(g, 2 + j);
        at(t, 4 + j) = at(g, j) - at(g, 2 + j);
        at(t, 6 + j) = -at(g, 2 + j);
      }
      Scalar* mo = ws.m.data() + std::size_t(o) * tiles;
      auto mp = [&](int p) { return Array(mo + p * stride, tiles); };
      for (int i = 0; i < 4; ++i) {  // dM = t At
        mp(4 * i) = at(t, 2 * i);
        mp(4 * i + 1) = at(t, 2 * i) + at(t, 2 * i + 1);
        mp(4 * i + 2) = at(t, 2 * i) - at(t, 2 * i + 1);
        mp(4 * i + 3) = -at(t, 2 * i + 1);
      }
    }
  }

  // dd = B dV Bt per tile, summed onto the input pixels under its window; input_grad is
  // overwritten. Padded row 2ty + i (i = 0, 1) is window row i of tile row ty and window row i + 2
  // of tile row ty - 1: the two are first summed over all the image's tiles at once, in
  // transform_input's rows by parity, and each image row is then written once, its overlapping
  // columns added.
  void transform_input_grad(AlignedVector<Scalar>& dv, int images, Scalar* input_grad, Workspace& ws) const {
    const int in = g_.channels, tiles = images * tiles_per_image(), tw = tiles_w_, th = tiles_h_;
    const int padded_rows = 2 * th + 2, padded_cols = 2 * tw + 2;
    const Eigen::Index image_tiles = tiles_per_image();
    winograd::ensure_size(ws.rows, std::size_t(32) * tiles + rows_by_parity_size() + padded_cols);
    Scalar *t = ws.rows.data(), *d = t + std::size_t(16) * tiles;
    const RowsByParity rows = rows_by_parity(d + std::size_t(16) * tiles);
    Scalar* padded = rows.base + rows_by_parity_size();
    auto at = [tiles](Scalar* base, int p) { return Array(base + std::size_t(p) * tiles, tiles); };
    const std::size_t plane = std::size_t(g_.height) * g_.width, stride = std::size_t(in) * tiles;
    // Padded column q holds pixel x = q - pad_w; every pixel lies under some window.
    const int x0 = std::max(0, -g_.pad_w), x1 = std::min(g_.width, padded_cols - g_.pad_w);
    for (int c = 0; c < in; ++c) {
      Scalar* v = dv.data() + std::size_t(c) * tiles;
      auto vp = [&](int p) { return Array(v + p * stride, tiles); };
      for (int j = 0; j < 4; ++j) {  // t = B dV
        at(t, j) = vp(j);
        at(t, 4 + j) = vp(4 + j) - vp(8 + j) + vp(12 + j);
        at(t, 8 + j) = vp(4 + j) + vp(8 + j) - vp(j);
        at(t, 12 + j) = -vp(12 + j);
      }
      for (int i = 0; i < 4; ++i) {  // dd = t Bt
        at(d, 4 * i) = at(t, 4 * i);
        at(d, 4 * i + 1) = at(t, 4 * i + 1) - at(t, 4 * i + 2) + at(t, 4 * i + 3);
        at(d, 4 * i + 2) = at(t, 4 * i + 1) + at(t, 4 * i + 2) - at(t, 4 * i);
        at(d, 4 * i + 3) = -at(t, 4 * i + 3);
      }
      for (int img = 0; img < images; ++img) {
        const Scalar* di = d + std::size_t(img) * tiles_per_image();
        for (int j = 0; j < 4; ++j)  // padded rows 2ty + parity: window rows parity (tile row ty) and parity + 2 (ty - 1)
          for (int parity = 0; parity < 2; ++parity) {
            Array sum(rows.row(j, parity, 0), Eigen::Index(rows.parity_rows));
            const ConstArray upper(di + std::size_t(4 * parity + j) * tiles, image_tiles);
            const ConstArray lower(di + std::size_t(4 * (parity + 2) + j) * tiles, image_tiles);
            sum.head(image_tiles) = upper;
            sum.tail(tw).setZero();
            sum.tail(image_tiles) += lower;
          }
        Scalar* image = input_grad + (std::size_t(img) * in + c) * plane;
        for (int r = 0; r < padded_rows; ++r) {  // columns: window column j of tile tx lies at 2tx + j
          const int y = r - g_.pad_h;
          if (y < 0 || y >= g_.height) continue;
          const Scalar *__restrict d0 = rows.row(0, r % 2, r / 2), *__restrict d1 = rows.row(1, r % 2, r / 2),
                       *__restrict d2 = rows.row(2, r % 2, r / 2), *__restrict d3 = rows.row(3, r % 2, r / 2);
          Scalar* __restrict out = padded;
          out[0] = d0[0], out[1] = d1[0];
          for (int k = 1; k < tw; ++k) out[2 * k] = d0[k] + d2[k - 1], out[2 * k + 1] = d1[k] + d3[k - 1];
          out[2 * tw] = d2[tw - 1], out[2 * tw + 1] = d3[tw - 1];
          std::copy(padded + x0 + g_.pad_w, padded + x1 + g_.pad_w, image + std::size_t(y) * g_.width + x0);
        }
      }
    }
  }

  ConvGeometry g_;
  int out_, tiles_h_, tiles_w_;
  AlignedVector<Scalar> u_;  // 16 blocks of out x in
  AlignedVector<Scalar> kernel_scratch_;  // set_kernels' taps and half-transformed kernels
  std::vector<Scalar> last_weights_;  // the weights u_ was made from
  bool bf16_ = false, kernels_bf16_ = false;  // bf16 products now / when u_ was made
  std::vector<bf16::PackedRows> packed_u_, packed_ut_;  // U_p and U_p^T, with bf16 products
};

}  // namespace deephash::nn
