#pragma once
// NumPy arrays in and out of the library's types: checked once here, so that every binding
// refuses a wrong dtype with TypeError and a wrong shape, a non-contiguous array or a mismatched
// length with ValueError, naming the argument; and copies nothing that the layouts let it keep.
//
// Codes cross in FAISS's layout, uint8 rows of ceil(bits / 8) bytes, bit j of a code in byte
// j / 8 at position j % 8 (least significant first); bits past `bits` in the last byte are zero
// in what deephash returns and ignored in what it is given. Codes may also be given as bool rows
// of `bits` values. On a little-endian machine the byte rows of codes whose length is a multiple
// of 64 bits are the library's own words: those are read and returned in place.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/codes/bit_codes.hpp"
#include "deephash/codes/faiss_layout.hpp"
#include "deephash/core/matrix.hpp"
#include "deephash/data/image_view.hpp"

namespace deephash::python {

namespace py = pybind11;

inline std::string describe_dtype(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline std::string describe_shape(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Any array-like as an array (lists become arrays; what NumPy cannot read is a TypeError).
inline py::array as_array(const py::handle& object, const std::string& name) {
  if (py::isinstance<py::array>(object)) return py::reinterpret_borrow<py::array>(object);
  if (py::array a = py::array::ensure(object)) return a;
  throw py::type_error(name + " must be a numpy array, got " + py::str(py::type::of(object)).cast<std::string>());
}

inline void require_c_contiguous(const py::array& a, const std::string& name) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(name + " must be C-contiguous; pass numpy.ascontiguousarray(" + name + ")");
}

inline bool is_bool(const py::array& a) { return a.dtype().kind() == 'b'; }
inline bool is_uint8(const py::array& a) { return a.dtype().is(py::dtype::of<std::uint8_t>()); }

// Rows of codes given from Python, as the library's words: in place where the layouts agree,
// else repacked once.
class CodesArg {
 public:
  // `bits`: the length the codes must have (an index's); 0: from a bool array's width, or
  // 8 x a uint8 array's width.
  CodesArg(const py::handle& object, int bits, const std::string& name) {
    const py::array a = as_array(object, name);
    if (!is_uint8(a) && !is_bool(a))
      throw py::type_error(name + " must be uint8 (FAISS's packed layout) or bool (one value per bit), got " + describe_dtype(a));
    if (a.ndim() != 1 && a.ndim() != 2)
      throw py::value_error(name + " must be a 2-D array of codes (or 1-D for one code), got shape " + describe_shape(a));
    require_c_contiguous(a, name);
    n_ = a.ndim() == 1 ? 1 : std::size_t(a.shape(0));
    const std::size_t width = std::size_t(a.shape(a.ndim() - 1));
    if (bits == 0) bits = int(is_bool(a) ? width : width * 8);
    if (bits < 1 || bits > kMaxCodeBits)
      throw py::value_error(name + ": codes of " + std::to_string(bits) + " bits; deephash takes 1 to " + std::to_string(kMaxCodeBits));
    bits_ = bits;
    const std::size_t expected = is_bool(a) ? std::size_t(bits) : std::size_t(faiss_code_size(bits));
    if (width != expected)
      throw py::value_error(name + " holds rows of " + std::to_string(width) + (is_bool(a) ? " bools" : " bytes") + " but " +
                            std::to_string(bits) + "-bit codes take " + std::to_string(expected) +
                            (is_bool(a) ? " bools" : " bytes (ceil(bits / 8))") + " a row; shape " + describe_shape(a));
    const auto* data = static_cast<const std::uint8_t*>(a.data());
    if (is_uint8(a) && bits % 64 == 0 && reinterpret_cast<std::uintptr_t>(data) % alignof(std::uint64_t) == 0) {
      words_ = reinterpret_cast<const std::uint64_t*>(data);  // the same bytes: read in place
      keep_ = a;
      return;
    }
    if (is_uint8(a)) {
      owned_ = from_faiss_bytes(data, n_, bits);
    } else {
      owned_ = BitCodes(n_, bits);
      const auto* values = reinterpret_cast<const bool*>(data);
      for (std::size_t i = 0; i < n_; ++i)
        for (int j = 0; j < bits; ++j)
          if (values[i * std::size_t(bits) + std::size_t(j)]) owned_.set_bit(i, j, true);
    }
    words_ = owned_.data();
  }

  std::size_t size() const { return n_; }
  int bits() const { return bits_; }
  const std::uint64_t* words() const { return words_; }
  // As BitCodes (a copy unless they were repacked already).
  BitCodes codes() const { return words_ == owned_.data() ? owned_ : BitCodes::from_words(n_, bits_, words_); }

 private:
  std::size_t n_ = 0;
  int bits_ = 0;
  const std::uint64_t* words_ = nullptr;
  BitCodes owned_;
  py::array keep_;  // the array read in place stays alive with this
};

// An object kept alive by the NumPy array that views its memory.
template <class T>
py::capsule owner_of(std::unique_ptr<T> object) {
  return py::capsule(object.release(), [](void* p) { delete static_cast<T*>(p); });
}

// Codes to Python in FAISS's layout: uint8, n x ceil(bits / 8). Handed over without a copy when
// the layouts agree.
inline py::array_t<std::uint8_t> codes_to_numpy(BitCodes codes) {
  const py::ssize_t n = py::ssize_t(codes.size()), bytes = faiss_code_size(codes.bits());
  if (codes.bits() % 64 == 0 && n > 0) {
    auto owned = std::make_unique<BitCodes>(std::move(codes));
    const auto* data = reinterpret_cast<const std::uint8_t*>(owned->data());
    return py::array_t<std::uint8_t>({n, bytes}, data, owner_of(std::move(owned)));
  }
  py::array_t<std::uint8_t> out({n, bytes});
  for (py::ssize_t i = 0; i < n; ++i) std::memcpy(out.mutable_data(i, 0), codes.code(std::size_t(i)), std::size_t(bytes));
  return out;
}

// A float matrix to Python without a copy: float32, rows x cols.
inline py::array_t<float> matrix_to_numpy(RowMatrixXf m) {
  const py::ssize_t rows = m.rows(), cols = m.cols();
  auto owned = std::make_unique<RowMatrixXf>(std::move(m));
  const float* data = owned->data();
  return py::array_t<float>({rows, cols}, data, owner_of(std::move(owned)));
}

template <class T>
py::array_t<T> vector_to_numpy(std::vector<T> v) {
  const py::ssize_t n = py::ssize_t(v.size());
  auto owned = std::make_unique<std::vector<T>>(std::move(v));
  const T* data = owned->data();
  return py::array_t<T>({n}, data, owner_of(std::move(owned)));
}

// A float32 matrix read in place (float64 is converted once), n x cols.
class MatrixArg {
 public:
  MatrixArg(const py::handle& object, const std::string& name) {
    py::array a = as_array(object, name);
    if (a.dtype().kind() != 'f')
      throw py::type_error(name + " must be a float32 (or float64) array, got " + describe_dtype(a));
    if (a.ndim() != 2) throw py::value_error(name + " must be a 2-D array (samples x features), got shape " + describe_shape(a));
    if (!a.dtype().is(py::dtype::of<float>())) {
      a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
    } else {
      require_c_contiguous(a, name);
    }
    array_ = a;
  }
  Eigen::Map<const RowMatrixXf> map() const {
    return {static_cast<const float*>(array_.data()), Eigen::Index(array_.shape(0)), Eigen::Index(array_.shape(1))};
  }
  std::size_t rows() const { return std::size_t(array_.shape(0)); }

 private:
  py::array array_;
};

// Same-sized 8-bit images, N x H x W x C (C = 1 or 3) or N x H x W (gray), read in place.
inline ImageBatchView images_arg(const py::handle& object, const std::string& name) {
  const py::array a = as_array(object, name);
  if (!is_uint8(a)) throw py::type_error(name + " must be uint8 images, got " + describe_dtype(a));
  if (a.ndim() != 3 && a.ndim() != 4)
    throw py::value_error(name + " must be N x H x W x C (C = 1 or 3) or N x H x W (gray), got shape " + describe_shape(a) +
                          "; one image: images[None]");
  const int channels = a.ndim() == 4 ? int(a.shape(3)) : 1;
  if (channels != 1 && channels != 3) throw py::value_error(name + " must have 1 or 3 channels, got shape " + describe_shape(a));
  if (a.shape(1) < 1 || a.shape(2) < 1) throw py::value_error(name + " must have a positive height and width, got shape " + describe_shape(a));
  require_c_contiguous(a, name);
  return {int(a.shape(1)), int(a.shape(2)), channels, static_cast<const std::uint8_t*>(a.data()), std::size_t(a.shape(0))};
}

// Single labels, one non-negative integer per item.
inline std::vector<int> labels_arg(const py::handle& object, const std::string& name) {
  const py::array a = as_array(object, name);
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    throw py::type_error(name + " must be integer labels, got " + describe_dtype(a));
  if (a.ndim() != 1) throw py::value_error(name + " must be 1-D (one label per item), got shape " + describe_shape(a));
  const auto as_long = py::array_t<long long, py::array::c_style | py::array::forcecast>::ensure(a);
  std::vector<int> labels(std::size_t(as_long.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const long long v = as_long.data()[i];
    if (v < 0 || v > (1 << 30)) throw py::value_error(name + "[" + std::to_string(i) + "] = " + std::to_string(v) + " is not a valid label");
    labels[i] = int(v);
  }
  return labels;
}

// Ids: a 1-D integer array as int64.
inline std::vector<idx_t> ids_arg(const py::handle& object, const std::string& name) {
  const py::array a = as_array(object, name);
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u') throw py::type_error(name + " must be integer ids, got " + describe_dtype(a));
  if (a.ndim() != 1) throw py::value_error(name + " must be 1-D, got shape " + describe_shape(a));
  const auto as_int64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  return std::vector<idx_t>(as_int64.data(), as_int64.data() + as_int64.size());
}

}  // namespace deephash::python
