#pragma once
// im2col turns convolution into one matrix product: column (oh, ow) of the result holds the input
// patch that output pixel sees, row (c, kh, kw) one tap of the kernel. col2im is its transpose
// (adds each column back onto the pixels it came from), for the gradient of the input.

#include <algorithm>
#include <cstring>

namespace deephash::nn {

struct ConvGeometry {
  int channels, height, width;  // of the input (one group)
  int kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w, dilation;
  int out_h() const { return (height + 2 * pad_h - (dilation * (kernel_h - 1) + 1)) / stride_h + 1; }
  int out_w() const { return (width + 2 * pad_w - (dilation * (kernel_w - 1) + 1)) / stride_w + 1; }
};

// col has (channels * kernel_h * kernel_w) rows of out_h * out_w.
template <class Scalar>
void im2col(const Scalar* image, const ConvGeometry& g, Scalar* col) {
  const int oh = g.out_h(), ow = g.out_w();
  for (int c = 0; c < g.channels; ++c)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const Scalar* plane = image + std::size_t(c) * g.height * g.width;
        const int dy = kh * g.dilation - g.pad_h, dx = kw * g.dilation - g.pad_w;
        // Output columns whose input x = ox * stride + dx lies inside the image.
        const int ox0 = dx >= 0 ? 0 : std::min(ow, (-dx + g.stride_w - 1) / g.stride_w);
        const int ox1 = std::max(ox0, std::min(ow, (g.width - dx + g.stride_w - 1) / g.stride_w));
        for (int oy = 0; oy < oh; ++oy, col += ow) {
          const int y = oy * g.stride_h + dy;
          if (y < 0 || y >= g.height) {
            std::fill(col, col + ow, Scalar(0));
            continue;
          }
          const Scalar* row = plane + std::size_t(y) * g.width;
          std::fill(col, col + ox0, Scalar(0));
          if (g.stride_w == 1) {
            std::memcpy(col + ox0, row + ox0 + dx, sizeof(Scalar) * std::size_t(ox1 - ox0));
          } else {
            for (int ox = ox0; ox < ox1; ++ox) col[ox] = row[ox * g.stride_w + dx];
          }
          std::fill(col + ox1, col + ow, Scalar(0));
        }
      }
}

// Adds the columns back into `image` (which the caller zeroes first).
template <class Scalar>
void col2im(const Scalar* col, const ConvGeometry& g, Scalar* image) {
  const int oh = g.out_h(), ow = g.out_w();
  for (int c = 0; c < g.channels; ++c)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        Scalar* plane = image + std::size_t(c) * g.height * g.width;
        const int dy = kh * g.dilation - g.pad_h, dx = kw * g.dilation - g.pad_w;
        const int ox0 = dx >= 0 ? 0 : std::min(ow, (-dx + g.stride_w - 1) / g.stride_w);
        const int ox1 = std::max(ox0, std::min(ow, (g.width - dx + g.stride_w - 1) / g.stride_w));
        for (int oy = 0; oy < oh; ++oy, col += ow) {
          const int y = oy * g.stride_h + dy;
          if (y < 0 || y >= g.height) continue;
          Scalar* row = plane + std::size_t(y) * g.width;
          for (int ox = ox0; ox < ox1; ++ox) row[ox * g.stride_w + dx] += col[ox];
        }
      }
}

}  // namespace deephash::nn
