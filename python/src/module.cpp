// import deephash: the module's entry point. Errors of the library (deephash::Error: a file, an
// argument or a dataset named with what is wrong) arrive in Python as ValueError; the bindings
// raise TypeError for wrong types and FileNotFoundError for missing files themselves.

#include <string>

#include "bindings.hpp"
#include "deephash/core/error.hpp"
#include "deephash/core/thread_pool.hpp"

namespace deephash::python {

unsigned& default_threads() {
  static unsigned threads = default_num_threads();
  return threads;
}

}  // namespace deephash::python

PYBIND11_MODULE(_deephash, m) {
  using namespace deephash::python;
  m.doc() = "deephash's C++ core (import deephash, not this module)";
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const deephash::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("set_num_threads", [](int n) {
          if (n < 1) throw py::value_error("the number of threads must be >= 1, got " + std::to_string(n));
          default_threads() = unsigned(n);
        },
        py::arg("n"), "Threads of the indexes, models and training made from now on without an explicit count.");
  m.def("get_num_threads", [] { return default_threads(); }, "The threads set_num_threads set (default: the machine's cores).");
  bind_codes(m);
  bind_index(m);
  bind_eval(m);
  bind_model(m);
}
