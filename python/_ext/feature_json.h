// The JSON text of a feature value returned by a Python resolver, as the online stores keep
// it and the serving API returns it. It must match, byte for byte, the text a native resolver
// writes for the same value (AppendJson in include/statefold/native.h): integers in shortest
// decimal form, floats through AppendJsonDouble (a whole float keeps ".0"; NaN and infinities
// are refused, NonFiniteFeatureReason), strings through AppendJsonString. All calls require the
// GIL.
#pragma once

#include <Python.h>

#include <string>

#include "statefold/status.h"

namespace statefold::python {

// Imports the datetime C API for this translation unit; called once at module import.
void InitFeatureJson();

// Appends the JSON text of `value`: None, bool, int, float, str, lists, tuples and sets (as
// arrays), dicts (keys as strings), datetimes, dates and times (ISO 8601 strings) and enum
// members (their value). Fails with InvalidArgument on a value with no JSON form (NaN and
// infinities included, anywhere inside `value`); *out may
// then hold part of the text.
Status AppendJsonValue(PyObject* value, std::string* out);

}  // namespace statefold::python
