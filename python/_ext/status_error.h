// Status -> Python exception: each Status::Code raises its own class of statefold.errors
// (as pyarrow's check_status does), so that Python code can catch one kind of failure. Every
// class derives from statefold.errors.StatefoldError. All calls require the GIL.
#pragma once

#include "statefold/status.h"

namespace statefold::python {

// Looks up the class of each code in statefold.errors; called once at module import. Raises
// (a Python AttributeError) when the module lacks one of them.
void RegisterErrorClasses();

// Raises the class of status.code() with status.message() as a pending Python exception and
// throws nb::python_error. REQUIRES: !status.ok().
[[noreturn]] void RaiseStatus(const Status& status);

inline void Check(const Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

}  // namespace statefold::python
