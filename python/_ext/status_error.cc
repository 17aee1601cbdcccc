// The table of Status::Code -> statefold.errors class, and the raise.

#include "status_error.h"

#include <Python.h>
#include <nanobind/nanobind.h>

#include <iterator>

namespace nb = nanobind;

namespace statefold::python {
namespace {

struct ErrorClass {
  Status::Code code;
  const char* name;  // in statefold/errors.py
};

// One entry per code but kOk; a new code fails to compile until it has its class.
constexpr ErrorClass kErrorClasses[] = {
    {Status::Code::kInvalidArgument, "InvalidArgumentError"},
    {Status::Code::kNotFound, "NotFoundError"},
    {Status::Code::kCorruption, "CorruptionError"},
    {Status::Code::kIOError, "StatefoldIOError"},
    {Status::Code::kAborted, "AbortedError"},
};
static_assert(std::size(kErrorClasses) == static_cast<size_t>(Status::Code::kAborted));

// Indexed by code; kOk's entry is StatefoldError, the base. Owned references, kept for the
// life of the process (released at exit they would outlive the interpreter).
PyObject* g_classes[std::size(kErrorClasses) + 1] = {};

}  // namespace

void RegisterErrorClasses() {
  nb::module_ errors = nb::module_::import_("statefold.errors");
  g_classes[0] = nb::object(errors.attr("StatefoldError")).release().ptr();
  for (const ErrorClass& entry : kErrorClasses) {
    g_classes[static_cast<size_t>(entry.code)] =
        nb::object(errors.attr(entry.name)).release().ptr();
  }
}

void RaiseStatus(const Status& status) {
  auto index = static_cast<size_t>(status.code());
  PyObject* cls = index < std::size(g_classes) ? g_classes[index] : nullptr;
  if (cls == nullptr) cls = g_classes[0];
  if (cls == nullptr) throw std::runtime_error(status.ToString());  // before registration
  PyErr_SetString(cls, status.message().c_str());
  throw nb::python_error();
}

}  // namespace statefold::python
