#pragma once
// Concatenation along one axis (Caffe's Concat): GoogLeNet's inception modules and SqueezeNet's
// fire modules join their branches along the channels. Seen along the axis, each input is
// `outer` blocks (the product of the axes before it) of its own length along the axis times
// `inner` (the product of the axes after it); the output interleaves the inputs' blocks.

#include <cstring>
#include <vector>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

struct ConcatGeometry {
  int axis = 0;                 // non-negative
  std::vector<int> top_shape;
  std::size_t outer = 1;        // product of the dimensions before the axis
  std::size_t inner = 1;        // product of the dimensions after it
};

// Where and how Concat joins inputs of these shapes (the CPU and GPU layers share it). Throws
// Error(where, ...) for an axis out of range and for inputs that differ off the axis.
inline ConcatGeometry concat_geometry(int axis, const std::vector<std::vector<int>>& shapes, const std::string& where) {
  ConcatGeometry g;
  const std::vector<int>& first = shapes.at(0);
  g.axis = canonical_axis(axis, first, where);
  g.top_shape = first;
  for (std::size_t b = 1; b < shapes.size(); ++b) {
    bool same = shapes[b].size() == first.size();
    for (std::size_t d = 0; same && d < first.size(); ++d) same = int(d) == g.axis || shapes[b][d] == first[d];
    if (!same)
      throw Error(where, "input " + std::to_string(b) + " " + shape_text(shapes[b]) + " does not match input 0 " +
                             shape_text(first) + " on every axis but " + std::to_string(g.axis));
    g.top_shape[std::size_t(g.axis)] += shapes[b][std::size_t(g.axis)];
  }
  for (int d = 0; d < g.axis; ++d) g.outer *= std::size_t(first[std::size_t(d)]);
  for (std::size_t d = std::size_t(g.axis) + 1; d < first.size(); ++d) g.inner *= std::size_t(first[d]);
  return g;
}

template <class Scalar>
class ConcatLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;

  void setup(const Blobs& bottom, std::mt19937_64&) override { this->require_bottoms(bottom, 1, 1024); }

  void reshape(const Blobs& bottom, const Blobs& top) override {
    std::vector<std::vector<int>> shapes;
    for (const auto* b : bottom) shapes.push_back(b->shape());
    geometry_ = concat_geometry(this->spec_.concat.axis, shapes, this->where());
    top[0]->reshape(geometry_.top_shape);
  }

  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    for_each_block(bottom, [&](std::size_t b, std::size_t at_input, std::size_t at_output, std::size_t n) {
      std::memcpy(top[0]->data() + at_output, bottom[b]->data() + at_input, n * sizeof(Scalar));
    });
  }

  // Each input's gradient is its own blocks of the output's gradient.
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    for_each_block(bottom, [&](std::size_t b, std::size_t at_input, std::size_t at_output, std::size_t n) {
      if (propagate[b]) std::memcpy(bottom[b]->diff() + at_input, top[0]->diff() + at_output, n * sizeof(Scalar));
    });
  }

 private:
  // Calls visit(input, offset in the input, offset in the output, length) for every block of
  // every input.
  template <class Visit>
  void for_each_block(const Blobs& bottom, Visit&& visit) const {
    const std::size_t top_axis = std::size_t(geometry_.top_shape[std::size_t(geometry_.axis)]);
    std::size_t start = 0;  // along the axis, where the current input begins in the output
    for (std::size_t b = 0; b < bottom.size(); ++b) {
      const std::size_t length = std::size_t(bottom[b]->shape(geometry_.axis));
      if (length * geometry_.inner != 0)  // an empty input has no block (and maybe no memory)
        for (std::size_t o = 0; o < geometry_.outer; ++o)
          visit(b, o * length * geometry_.inner, (o * top_axis + start) * geometry_.inner, length * geometry_.inner);
      start += length;
    }
  }

  ConcatGeometry geometry_;
};

}  // namespace deephash::nn
