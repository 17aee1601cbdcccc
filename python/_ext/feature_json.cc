// AppendJsonValue: feature values from Python objects, written with the core's JSON writers.

#include "feature_json.h"

#include <datetime.h>

#include <charconv>

#include "python_codec.h"
#include "statefold/json_text.h"

namespace statefold::python {

void InitFeatureJson() { PyDateTime_IMPORT; }

Status AppendJsonValue(PyObject* value, std::string* out) {
  if (value == Py_None) {
    out->append("null");
  } else if (PyBool_Check(value)) {
    out->append(value == Py_True ? "true" : "false");
  } else if (PyLong_Check(value)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow != 0) {
      PyObject* s = PyObject_Str(value);
      out->append(PyUnicode_AsUTF8(s));
      Py_DECREF(s);
    } else {
      char buffer[24];
      out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr - buffer);
    }
  } else if (PyFloat_Check(value)) {
    const double v = PyFloat_AS_DOUBLE(value);
    if (!AppendJsonDouble(v, out)) return Status::InvalidArgument(NonFiniteFeatureReason(v));
  } else if (PyUnicode_Check(value)) {
    Py_ssize_t size;
    const char* utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (utf8 == nullptr) return Status::InvalidArgument(PythonErrorText());
    AppendJsonString(std::string_view(utf8, static_cast<size_t>(size)), out);
  } else if (PyList_Check(value) || PyTuple_Check(value) || PyAnySet_Check(value)) {
    PyObject* iterator = PyObject_GetIter(value);
    if (iterator == nullptr) return Status::InvalidArgument(PythonErrorText());
    out->push_back('[');
    bool first = true;
    Status status;
    while (PyObject* item = PyIter_Next(iterator)) {
      if (!first) out->push_back(',');
      first = false;
      status = AppendJsonValue(item, out);
      Py_DECREF(item);
      if (!status.ok()) break;
    }
    Py_DECREF(iterator);
    STATEFOLD_RETURN_IF_ERROR(status);
    out->push_back(']');
  } else if (PyDict_Check(value)) {
    out->push_back('{');
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    bool first = true;
    while (PyDict_Next(value, &pos, &k, &v)) {
      if (!first) out->push_back(',');
      first = false;
      PyObject* key_text = PyUnicode_Check(k) ? (Py_INCREF(k), k) : PyObject_Str(k);
      if (key_text == nullptr) return Status::InvalidArgument(PythonErrorText());
      AppendJsonString(PyUnicode_AsUTF8(key_text), out);
      Py_DECREF(key_text);
      out->push_back(':');
      STATEFOLD_RETURN_IF_ERROR(AppendJsonValue(v, out));
    }
    out->push_back('}');
  } else if (PyDateTime_Check(value) || PyDate_Check(value) || PyTime_Check(value)) {
    PyObject* iso = PyObject_CallMethod(value, "isoformat", nullptr);
    if (iso == nullptr) return Status::InvalidArgument(PythonErrorText());
    AppendJsonString(PyUnicode_AsUTF8(iso), out);
    Py_DECREF(iso);
  } else if (PyObject_HasAttrString(value, "_value_") &&
             PyObject_HasAttrString(reinterpret_cast<PyObject*>(Py_TYPE(value)), "__members__")) {
    PyObject* member_value = PyObject_GetAttrString(value, "value");
    if (member_value == nullptr) return Status::InvalidArgument(PythonErrorText());
    Status status = AppendJsonValue(member_value, out);
    Py_DECREF(member_value);
    return status;
  } else {
    return Status::InvalidArgument("a feature value must be JSON-like, got " + Describe(value));
  }
  return Status::Ok();
}

}  // namespace statefold::python
