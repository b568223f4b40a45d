#pragma once
// Layers that change a blob's shape and keep its values in order: Caffe's Flatten (axes joined
// into one, e.g. before an inner product) and Reshape (a part of the shape replaced). Caffe makes
// the output share the input's memory; here the output is a copy (a blob has one shape), which
// costs a copy of activations that are small next to the layers around them. Like Caffe, neither
// runs in place.

#include <algorithm>
#include <vector>

#include "deephash/nn/layer.hpp"

namespace deephash::nn {

// The output shape of Flatten for an input of shape `in`; Error(where, ...) when the axes are
// out of range or end_axis lies before axis - 1 (axis - 1 inserts an axis of 1, as in Caffe).
inline std::vector<int> flattened_shape(const FlattenSpec& s, const std::vector<int>& in, const std::string& where) {
  const int first = canonical_axis(s.axis, in, where, "axis");
  const int last = canonical_axis(s.end_axis, in, where, "end_axis");
  if (last < first - 1)
    throw Error(where, "end_axis " + std::to_string(s.end_axis) + " comes before axis " + std::to_string(s.axis) +
                           " in the input " + shape_text(in));
  std::vector<int> out(in.begin(), in.begin() + first);
  int joined = 1;
  for (int d = first; d <= last; ++d) joined *= in[std::size_t(d)];
  out.push_back(joined);
  out.insert(out.end(), in.begin() + last + 1, in.end());
  return out;
}

// The output shape of Reshape for an input of shape `in`, by Caffe's rules (ReshapeSpec);
// Error(where, ...) for a spec that does not fit the input.
inline std::vector<int> reshaped_shape(const ReshapeSpec& s, const std::vector<int>& in, const std::string& where) {
  const int axes = int(in.size());
  const int start = s.axis >= 0 ? s.axis : axes + s.axis + 1;  // -1: after the last axis
  if (start < 0 || start > axes)
    throw Error(where, "axis " + std::to_string(s.axis) + " is out of range for the input " + shape_text(in));
  if (s.num_axes < -1) throw Error(where, "num_axes must be -1 (all) or at least 0, got " + std::to_string(s.num_axes));
  const int end = s.num_axes == -1 ? axes : start + s.num_axes;
  if (end > axes)
    throw Error(where, "axis " + std::to_string(s.axis) + " and num_axes " + std::to_string(s.num_axes) +
                           " reach past the last axis of the input " + shape_text(in));
  std::vector<int> out(in.begin(), in.begin() + start);
  int inferred = -1;  // position in out of the -1, if any
  for (std::size_t i = 0; i < s.shape.size(); ++i) {
    const int dim = s.shape[i];
    if (dim == 0) {
      if (start + int(i) >= axes)
        throw Error(where, "shape dim " + std::to_string(i) + " is 0 (copy the input's) but the input " + shape_text(in) +
                               " has no axis " + std::to_string(start + int(i)));
      out.push_back(in[std::size_t(start) + i]);
    } else if (dim == -1) {
      if (inferred >= 0) throw Error(where, "shape has more than one -1 (only one dimension can be inferred)");
      inferred = int(out.size());
      out.push_back(1);
    } else if (dim < 0) {
      throw Error(where, "shape dim " + std::to_string(i) + " is " + std::to_string(dim) +
                             "; a dimension is positive, 0 (copied) or -1 (inferred)");
    } else {
      out.push_back(dim);
    }
  }
  out.insert(out.end(), in.begin() + end, in.end());
  std::size_t in_count = 1, out_count = 1;
  for (int d : in) in_count *= std::size_t(d);
  for (int d : out) out_count *= std::size_t(d);
  if (inferred >= 0 && out_count != 0 && in_count % out_count == 0) {
    out[std::size_t(inferred)] = int(in_count / out_count);
    out_count = in_count;
  }
  if (out_count != in_count)
    throw Error(where, "cannot reshape the input " + shape_text(in) + " (" + std::to_string(in_count) + " values) to " +
                           shape_text(out) + (inferred >= 0 ? " with the -1 inferred" : ""));
  return out;
}

// The values unchanged, the shape given by the derived class: forward copies the data, backward
// the gradient.
template <class Scalar>
class ShapeChangeLayer : public Layer<Scalar> {
  using Base = Layer<Scalar>;
  using typename Base::Blobs;

 public:
  using Base::Base;
  void setup(const Blobs& bottom, std::mt19937_64&) override {
    this->require_bottoms(bottom, 1, 1);
    output_shape(bottom[0]->shape());  // a spec that cannot fit the input fails here, at setup
  }
  void reshape(const Blobs& bottom, const Blobs& top) override { top[0]->reshape(output_shape(bottom[0]->shape())); }
  void forward(const Blobs& bottom, const Blobs& top, const RunContext&) override {
    std::copy(bottom[0]->data(), bottom[0]->data() + bottom[0]->count(), top[0]->data());
  }
  void backward(const Blobs& top, const std::vector<bool>& propagate, const Blobs& bottom,
                const RunContext&) override {
    if (propagate[0]) std::copy(top[0]->diff(), top[0]->diff() + top[0]->count(), bottom[0]->diff());
  }

 protected:
  virtual std::vector<int> output_shape(const std::vector<int>& input) const = 0;
};

template <class Scalar>
class FlattenLayer : public ShapeChangeLayer<Scalar> {
 public:
  using ShapeChangeLayer<Scalar>::ShapeChangeLayer;

 protected:
  std::vector<int> output_shape(const std::vector<int>& input) const override {
    return flattened_shape(this->spec_.flatten, input, this->where());
  }
};

template <class Scalar>
class ReshapeLayer : public ShapeChangeLayer<Scalar> {
 public:
  using ShapeChangeLayer<Scalar>::ShapeChangeLayer;

 protected:
  std::vector<int> output_shape(const std::vector<int>& input) const override {
    return reshaped_shape(this->spec_.reshape, input, this->where());
  }
};

}  // namespace deephash::nn
