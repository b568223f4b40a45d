#pragma once
// A picture of a retrieval: the query on the left, its results in rank order to the right, each
// framed green when it shares the query's label, red when not, grey when unknown.

#include <algorithm>
#include <vector>

#include "deephash/data/image_decode.hpp"

namespace deephash {

enum class Match { Unknown, Relevant, Irrelevant };

// Cells are `cell` pixels square; results wrap after `per_row` columns.
inline Image retrieval_grid(ImageView query, const std::vector<ImageView>& results, const std::vector<Match>& matches,
                            int cell = 96, int per_row = 10) {
  const int border = 4, gap = 6;
  const int columns = std::max(1, std::min(per_row, int(results.size())));
  const int rows = std::max(1, (int(results.size()) + columns - 1) / columns);
  const int width = (cell + 2 * border + gap) * (columns + 1) + gap * 2;
  const int height = (cell + 2 * border + gap) * rows + gap;
  Image grid{height, width, 3, std::vector<std::uint8_t>(std::size_t(height) * width * 3, 255)};

  auto paste = [&](ImageView source, int x0, int y0, const std::uint8_t frame[3]) {
    for (int y = 0; y < cell + 2 * border; ++y)
      for (int x = 0; x < cell + 2 * border; ++x)
        for (int c = 0; c < 3; ++c) grid.pixels[(std::size_t(y0 + y) * width + x0 + x) * 3 + c] = frame[c];
    const Image scaled = resize_image(source, cell, cell);
    for (int y = 0; y < cell; ++y)
      for (int x = 0; x < cell; ++x)
        for (int c = 0; c < 3; ++c) {
          const int sc = scaled.channels == 1 ? 0 : std::min(c, scaled.channels - 1);
          grid.pixels[(std::size_t(y0 + border + y) * width + x0 + border + x) * 3 + c] =
              scaled.pixels[(std::size_t(y) * cell + x) * scaled.channels + sc];
        }
  };
  const std::uint8_t query_frame[3] = {40, 40, 40}, green[3] = {30, 170, 60}, red[3] = {210, 40, 40},
                     grey[3] = {170, 170, 170};
  paste(query, gap, gap, query_frame);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const int col = int(i) % columns, row = int(i) / columns;
    const Match m = i < matches.size() ? matches[i] : Match::Unknown;
    paste(results[i], gap * 3 + (cell + 2 * border + gap) * (col + 1), gap + (cell + 2 * border + gap) * row,
          m == Match::Relevant ? green : m == Match::Irrelevant ? red : grey);
  }
  return grid;
}

}  // namespace deephash

namespace deephash {

// Images one above the other on white (e.g. the grids of several queries), left-aligned.
inline Image stack_vertically(const std::vector<ImageView>& images) {
  int width = 0, height = 0;
  for (const ImageView& i : images) {
    width = std::max(width, i.width);
    height += i.height;
  }
  Image out{height, width, 3, std::vector<std::uint8_t>(std::size_t(height) * width * 3, 255)};
  int y0 = 0;
  for (const ImageView& i : images) {
    for (int y = 0; y < i.height; ++y)
      for (int x = 0; x < i.width; ++x)
        for (int c = 0; c < 3; ++c)
          out.pixels[(std::size_t(y0 + y) * width + x) * 3 + c] =
              i.pixels[(std::size_t(y) * i.width + x) * i.channels + std::size_t(std::min(c, i.channels - 1))];
    y0 += i.height;
  }
  return out;
}

}  // namespace deephash
