// nanobind side of the binding benchmark (see run.py): per-call cost of
// Python -> C++ calls (noop, add) and C++ -> Python calls (call_n through
// nb::object::operator(), call_n_vectorcall through raw PyObject_Vectorcall).
// call_cost_pb.cc is the same module written with pybind11.
#include <nanobind/nanobind.h>

#include <cstdint>

namespace nb = nanobind;

NB_MODULE(call_cost_nb, m) {
  m.def("noop", [](nb::object) {});
  m.def("add", [](std::int64_t a, std::int64_t b) { return a + b; });
  m.def("call_n", [](nb::object fn, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) fn(i);
  });
  m.def("call_n_vectorcall", [](nb::object fn, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      PyObject* arg = PyLong_FromLongLong(i);
      PyObject* result = PyObject_Vectorcall(fn.ptr(), &arg, 1, nullptr);
      Py_DECREF(arg);
      if (result == nullptr) throw nb::python_error();
      Py_DECREF(result);
    }
  });
}
