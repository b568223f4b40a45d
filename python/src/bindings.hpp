#pragma once
// What the translation units of the Python module share: the module's settings, and the one
// binding function each of them defines (module.cpp calls them in order).

#include <pybind11/pybind11.h>

#include <filesystem>
#include <memory>
#include <string>

#include "deephash/core/thread_pool.hpp"

namespace deephash::python {

namespace py = pybind11;

// The module's one setting, like faiss.omp_set_num_threads: the threads of indexes, models and
// training created from Python without an explicit count. It lives in the module, not in the
// library, which takes every thread count as an argument.
unsigned& default_threads();
// The pool of the indexes made without a count of their own: set_num_threads resizes it, so that
// they follow the setting whenever they were made, as FAISS's follow omp_set_num_threads.
const std::shared_ptr<ThreadPool>& shared_thread_pool();
// `requested` when given (1..kMaxThreads, else ValueError), else (0) the module's setting.
inline unsigned threads_or_default(int requested) {
  return requested == 0 ? default_threads() : check_num_threads(requested, "num_threads");
}

// FileNotFoundError, as Python's own file functions raise, for a path that does not exist.
inline void require_file(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    PyErr_SetString(PyExc_FileNotFoundError, (path + ": no such file or folder").c_str());
    throw py::error_already_set();
  }
}

void bind_codes(py::module_& m);  // binarize, pack_bits, unpack_bits
void bind_index(py::module_& m);  // HammingIndex, MultiIndexHashing, load_index, rerank
void bind_eval(py::module_& m);   // metrics, protocols, LSH, ITQ
void bind_model(py::module_& m);  // models, encoding, sources, encoded sets, training

}  // namespace deephash::python
