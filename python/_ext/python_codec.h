// PythonCodec: converts Python state objects (dataclasses, pydantic v1/v2 models and the
// types inside them) to and from the state codec's payload (include/statefold/state_codec.h),
// following a type description built by statefold/schema.py. Conversion only: the format
// itself lives in the core. All calls require the GIL.
#pragma once

#include <Python.h>
#include <nanobind/nanobind.h>

#include <string>
#include <string_view>
#include <vector>

#include "state/state_schema.h"
#include "statefold/status.h"

namespace statefold::python {

namespace nb = nanobind;

enum class RecordFlavor : unsigned char { kDataclass, kPydanticV2, kPydanticV1 };

struct PyTypeNode {
  SchemaKind kind = SchemaKind::kInt;
  nb::object cls;  // record or enum class
  RecordFlavor flavor = RecordFlavor::kDataclass;
  bool plain_pydantic = false;          // v2 model without private attributes or post-init hook
  std::vector<nb::object> field_names;  // interned str
  std::vector<PyTypeNode> children;
  SchemaKind enum_value_kind = SchemaKind::kStr;
  std::string type_name;  // for error messages: "set[str]"
};

class PythonCodec {
 public:
  // `description` is the nested tuple form made by statefold.schema.describe().
  explicit PythonCodec(nb::handle description);

  // Appends the payload of `value` to `out`. Fails with InvalidArgument naming the field path
  // and the expected and actual types when `value` does not fit.
  Status Encode(PyObject* value, std::string* out) const;
  // Checks the top level of a record value: each field's type (a set is a set, an int an int),
  // without walking into containers. Cheap enough to run after every resolver call; the full
  // check happens when the state is encoded.
  Status CheckShallow(PyObject* value) const;
  // Decodes a payload into a new object. Fails with Corruption on malformed bytes.
  Status Decode(std::string_view payload, nb::object* value) const;

 private:
  PyTypeNode root_;
};

// Imports the datetime C API for this translation unit; called once at module import.
void InitPythonCodec();

// The text of the pending Python exception, which it clears ("error" when it has none).
std::string PythonErrorText();

// "int (5)": the type and a short repr of a value, for error messages.
std::string Describe(PyObject* value);

}  // namespace statefold::python
