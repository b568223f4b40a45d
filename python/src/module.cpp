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

const std::shared_ptr<ThreadPool>& shared_thread_pool() {
  static const std::shared_ptr<ThreadPool> pool = std::make_shared<ThreadPool>(default_threads());
  return pool;
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
  m.def("set_num_threads", [](long long n) {
          default_threads() = deephash::check_num_threads(n, "set_num_threads");
          // Workers that leave finish the task they hold; searches in other threads hold no GIL.
          py::gil_scoped_release unlocked;
          shared_thread_pool()->resize(default_threads());
        },
        py::arg("n"), R"(Threads (1 to 1024) of everything made without an explicit count: the indexes, made before
this call or after (they share one pool, resized here, also while they search), models and
training.)");
  m.def("get_num_threads", [] { return default_threads(); }, "The threads set_num_threads set (default: the machine's cores).");
  bind_codes(m);
  bind_index(m);
  bind_eval(m);
  bind_model(m);
}
