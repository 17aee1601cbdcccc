// pybind11 side of the binding benchmark (see run.py): per-call cost of
// Python -> C++ calls (noop, add) and C++ -> Python calls (call_n through
// py::object::operator(), call_n_vectorcall through raw PyObject_Vectorcall).
// call_cost_nb.cc is the same module written with nanobind.
#include <pybind11/pybind11.h>

#include <cstdint>

namespace py = pybind11;

PYBIND11_MODULE(call_cost_pb, m) {
  m.def("noop", [](py::object) {});
  m.def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
  m.def("call_n", [](py::object fn, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) fn(i);
  });
  m.def("call_n_vectorcall", [](py::object fn, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      PyObject* arg = PyLong_FromLongLong(i);
      PyObject* result = PyObject_Vectorcall(fn.ptr(), &arg, 1, nullptr);
      Py_DECREF(arg);
      if (result == nullptr) throw py::error_already_set();
      Py_DECREF(result);
    }
  });
}
