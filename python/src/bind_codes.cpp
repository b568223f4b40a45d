// Codes: thresholding activations, and packing bits to and from FAISS's byte layout.

#include <cmath>
#include <string>

#include "arrays.hpp"
#include "bindings.hpp"
#include "deephash/codes/binarize.hpp"

namespace deephash::python {

namespace {

template <class Scalar>
BitCodes binarize_rows(const py::array& a, double threshold) {
  const auto rows = py::array_t<Scalar, py::array::c_style>::ensure(a);
  const std::size_t n = std::size_t(a.shape(0));
  const int dim = int(a.shape(1));
  py::gil_scoped_release unlocked;
  return binarize(rows.data(), n, dim, Scalar(threshold));
}

py::array_t<std::uint8_t> binarize_array(const py::handle& object, double threshold) {
  const py::array a = as_array(object, "activations");
  if (a.dtype().kind() != 'f') throw py::type_error("activations must be float32 or float64, got " + describe_dtype(a));
  if (a.ndim() != 2) throw py::value_error("activations must be 2-D (samples x units), got shape " + describe_shape(a));
  require_c_contiguous(a, "activations");
  if (!std::isfinite(threshold)) throw py::value_error("threshold must be a finite number");
  if (a.shape(1) < 1 || a.shape(1) > kMaxCodeBits)
    throw py::value_error("activations must have 1 to " + std::to_string(kMaxCodeBits) + " units, got shape " + describe_shape(a));
  if (a.dtype().is(py::dtype::of<float>())) return codes_to_numpy(binarize_rows<float>(a, threshold));
  if (a.dtype().is(py::dtype::of<double>())) return codes_to_numpy(binarize_rows<double>(a, threshold));
  throw py::type_error("activations must be float32 or float64, got " + describe_dtype(a));
}

py::array_t<bool> unpack(const py::handle& packed, int bits) {
  if (bits < 1) throw py::value_error("bits must be positive, got " + std::to_string(bits));
  const CodesArg codes(packed, bits, "packed");
  const BitCodes c = codes.codes();
  py::array_t<bool> out({py::ssize_t(c.size()), py::ssize_t(bits)});
  bool* values = out.mutable_data();
  for (std::size_t i = 0; i < c.size(); ++i)
    for (int j = 0; j < bits; ++j) values[i * std::size_t(bits) + std::size_t(j)] = c.bit(i, j);
  return out;
}

}  // namespace

void bind_codes(py::module_& m) {
  m.def("binarize", &binarize_array, py::arg("activations"), py::arg("threshold") = kSigmoidThreshold,
        R"(Codes from activations: bit j of code i is set when activations[i, j] > threshold.

The paper's latent layer ends in a sigmoid and fires above 0.5 (the default); pass threshold=0
for outputs in [-1, 1] (tanh, sign-based methods). activations: float32 or float64, samples x
units. Returns uint8 codes in FAISS's layout, samples x ceil(units / 8). A NaN raises
ValueError naming its row and column.)");
  m.def("pack_bits", [](const py::handle& bits) { return codes_to_numpy(CodesArg(bits, 0, "bits").codes()); }, py::arg("bits"),
        R"(Packs bool codes (n x bits, one value per bit) into FAISS's byte layout: uint8,
n x ceil(bits / 8), bit j in byte j // 8 at position j % 8 (least significant first), the
unused high bits of the last byte zero. The inverse of unpack_bits.)");
  m.def("unpack_bits", &unpack, py::arg("packed"), py::arg("bits"),
        R"(Unpacks uint8 codes in FAISS's layout (n x ceil(bits / 8)) into bool, n x bits. Bits past
`bits` in the last byte are ignored.)");
  m.def("code_size", [](int bits) { return faiss_code_size(bits); }, py::arg("bits"),
        "Bytes per code in FAISS's layout: ceil(bits / 8).");
}

}  // namespace deephash::python
