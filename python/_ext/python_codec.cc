// PythonCodec: Python objects <-> state payloads, with the CPython C API for speed.

#include "python_codec.h"

#include <datetime.h>
#include <nanobind/stl/string.h>  // nb::cast<std::string>: without it, a bad_cast at run time

#include "statefold/state_codec.h"
#include "util/civil_time.h"

namespace statefold::python {
namespace {

struct NodeKindName {
  const char* name;
  SchemaKind kind;
};
constexpr NodeKindName kNodeKinds[] = {
    {"bool", SchemaKind::kBool},         {"int", SchemaKind::kInt},
    {"float", SchemaKind::kFloat},       {"str", SchemaKind::kStr},
    {"bytes", SchemaKind::kBytes},       {"datetime", SchemaKind::kDatetime},
    {"optional", SchemaKind::kOptional}, {"list", SchemaKind::kList},
    {"set", SchemaKind::kSet},           {"frozenset", SchemaKind::kFrozenSet},
    {"vartuple", SchemaKind::kVarTuple}, {"tuple", SchemaKind::kTuple},
    {"dict", SchemaKind::kDict},         {"enum", SchemaKind::kEnum},
    {"record", SchemaKind::kRecord},
};

PyObject* g_timezone_utc = nullptr;

SchemaNode ToSchemaNode(const PyTypeNode& node) {
  SchemaNode s;
  s.kind = node.kind;
  s.enum_value_kind = node.enum_value_kind;
  s.name = node.type_name;
  for (const PyTypeNode& child : node.children) s.children.push_back(ToSchemaNode(child));
  return s;
}

void BuildNode(nb::handle description, PyTypeNode* node) {
  nb::tuple t = nb::borrow<nb::tuple>(description);
  std::string kind = nb::cast<std::string>(t[0]);
  bool known = false;
  for (const NodeKindName& k : kNodeKinds) {
    if (kind == k.name) {
      node->kind = k.kind;
      known = true;
    }
  }
  if (!known) throw nb::value_error(("unknown type description kind " + kind).c_str());
  switch (node->kind) {
    case SchemaKind::kOptional:
    case SchemaKind::kList:
    case SchemaKind::kSet:
    case SchemaKind::kFrozenSet:
    case SchemaKind::kVarTuple:
      node->children.emplace_back();
      BuildNode(t[1], &node->children.back());
      break;
    case SchemaKind::kDict:
      node->children.resize(2);
      BuildNode(t[1], &node->children[0]);
      BuildNode(t[2], &node->children[1]);
      break;
    case SchemaKind::kTuple:
      for (nb::handle item : nb::borrow<nb::list>(t[1])) {
        node->children.emplace_back();
        BuildNode(item, &node->children.back());
      }
      break;
    case SchemaKind::kEnum:
      node->cls = nb::borrow(t[1]);
      node->enum_value_kind =
          nb::cast<std::string>(t[2]) == "int" ? SchemaKind::kInt : SchemaKind::kStr;
      node->type_name = nb::cast<std::string>(node->cls.attr("__name__"));
      break;
    case SchemaKind::kRecord: {
      node->cls = nb::borrow(t[1]);
      std::string flavor = nb::cast<std::string>(t[2]);
      node->flavor = flavor == "pydantic2"   ? RecordFlavor::kPydanticV2
                     : flavor == "pydantic1" ? RecordFlavor::kPydanticV1
                                             : RecordFlavor::kDataclass;
      node->type_name = nb::cast<std::string>(node->cls.attr("__name__"));
      if (node->flavor == RecordFlavor::kPydanticV2) {
        nb::object private_attributes =
            nb::getattr(node->cls, "__private_attributes__", nb::none());
        nb::object post_init = nb::getattr(node->cls, "__pydantic_post_init__", nb::none());
        node->plain_pydantic = (private_attributes.is_none() || nb::len(private_attributes) == 0) &&
                               post_init.is_none();
      }
      for (nb::handle field : nb::borrow<nb::list>(t[3])) {
        nb::tuple f = nb::borrow<nb::tuple>(field);
        PyObject* name = f[0].ptr();
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        node->field_names.push_back(nb::steal(name));
        node->children.emplace_back();
        BuildNode(f[1], &node->children.back());
      }
      break;
    }
    default:
      break;
  }
  if (node->type_name.empty()) node->type_name = StateSchema::TypeName(ToSchemaNode(*node));
}

Status Mismatch(const PyTypeNode& node, PyObject* value) {
  return Status::InvalidArgument("expected " + node.type_name + ", got " + Describe(value));
}

// Builds the path of a failing value from the inside out: "profile" + ".ips" + "[3]".
void PrependPath(std::string* path, std::string_view segment) {
  bool needs_dot = segment[0] != '[' && !path->empty() && (*path)[0] != '[';
  path->insert(0, std::string(segment) + (needs_dot ? "." : ""));
}

Status EncodeNode(const PyTypeNode& node, PyObject* value, ByteWriter& w, std::string* path);

Status EncodeItems(const PyTypeNode& item, PyObject* iterable, ByteWriter& w, std::string* path) {
  PyObject* iterator = PyObject_GetIter(iterable);
  if (iterator == nullptr) return Status::InvalidArgument(PythonErrorText());
  Py_ssize_t index = 0;
  Status status;
  while (PyObject* element = PyIter_Next(iterator)) {
    status = EncodeNode(item, element, w, path);
    Py_DECREF(element);
    if (!status.ok()) {
      PrependPath(path, "[" + std::to_string(index) + "]");
      break;
    }
    ++index;
  }
  Py_DECREF(iterator);
  return status;
}

Status EncodeNode(const PyTypeNode& node, PyObject* value, ByteWriter& w, std::string* path) {
  switch (node.kind) {
    case SchemaKind::kBool:
      if (!PyBool_Check(value)) return Mismatch(node, value);
      w.WriteBool(value == Py_True);
      return Status::Ok();
    case SchemaKind::kInt: {
      if (!PyLong_Check(value)) return Mismatch(node, value);
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
      if (overflow != 0)
        return Status::InvalidArgument("int " + Describe(value) + " does not fit in 64 bits");
      w.WriteInt(v);
      return Status::Ok();
    }
    case SchemaKind::kFloat:
      if (PyFloat_Check(value)) {
        w.WriteFloat(PyFloat_AS_DOUBLE(value));
      } else if (PyLong_Check(value) && !PyBool_Check(value)) {
        double v = PyLong_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred()) return Status::InvalidArgument(PythonErrorText());
        w.WriteFloat(v);
      } else {
        return Mismatch(node, value);
      }
      return Status::Ok();
    case SchemaKind::kStr: {
      if (!PyUnicode_Check(value)) return Mismatch(node, value);
      Py_ssize_t size;
      const char* utf8 = PyUnicode_AsUTF8AndSize(value, &size);
      if (utf8 == nullptr) return Status::InvalidArgument(PythonErrorText());
      w.WriteString(std::string_view(utf8, static_cast<size_t>(size)));
      return Status::Ok();
    }
    case SchemaKind::kBytes:
      if (PyBytes_Check(value)) {
        w.WriteString(std::string_view(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)));
      } else if (PyByteArray_Check(value)) {
        w.WriteString(std::string_view(PyByteArray_AS_STRING(value), PyByteArray_GET_SIZE(value)));
      } else {
        return Mismatch(node, value);
      }
      return Status::Ok();
    case SchemaKind::kDatetime: {
      if (!PyDateTime_Check(value)) return Mismatch(node, value);
      int64_t micros =
          (DaysFromCivil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                         PyDateTime_GET_DAY(value)) *
               86400 +
           PyDateTime_DATE_GET_HOUR(value) * 3600 + PyDateTime_DATE_GET_MINUTE(value) * 60 +
           PyDateTime_DATE_GET_SECOND(value)) *
              1000000 +
          PyDateTime_DATE_GET_MICROSECOND(value);
      PyObject* offset = PyObject_CallMethod(value, "utcoffset", nullptr);
      if (offset == nullptr) return Status::InvalidArgument(PythonErrorText());
      if (offset == Py_None) {
        w.WriteBool(false);
      } else {
        w.WriteBool(true);
        w.WriteInt(static_cast<int64_t>(PyDateTime_DELTA_GET_DAYS(offset)) * 86400 +
                   PyDateTime_DELTA_GET_SECONDS(offset));
      }
      Py_DECREF(offset);
      w.WriteInt(micros);
      return Status::Ok();
    }
    case SchemaKind::kOptional:
      if (value == Py_None) {
        w.WriteBool(false);
        return Status::Ok();
      }
      w.WriteBool(true);
      return EncodeNode(node.children[0], value, w, path);
    case SchemaKind::kList:
      if (!PyList_Check(value)) return Mismatch(node, value);
      w.WriteVarint(static_cast<uint64_t>(PyList_GET_SIZE(value)));
      for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); ++i) {
        Status status = EncodeNode(node.children[0], PyList_GET_ITEM(value, i), w, path);
        if (!status.ok()) {
          PrependPath(path, "[" + std::to_string(i) + "]");
          return status;
        }
      }
      return Status::Ok();
    case SchemaKind::kSet:
    case SchemaKind::kFrozenSet:
      if (!PyAnySet_Check(value)) return Mismatch(node, value);
      w.WriteVarint(static_cast<uint64_t>(PySet_GET_SIZE(value)));
      return EncodeItems(node.children[0], value, w, path);
    case SchemaKind::kVarTuple:
      if (!PyTuple_Check(value)) return Mismatch(node, value);
      w.WriteVarint(static_cast<uint64_t>(PyTuple_GET_SIZE(value)));
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); ++i) {
        Status status = EncodeNode(node.children[0], PyTuple_GET_ITEM(value, i), w, path);
        if (!status.ok()) {
          PrependPath(path, "[" + std::to_string(i) + "]");
          return status;
        }
      }
      return Status::Ok();
    case SchemaKind::kTuple:
      if (!PyTuple_Check(value) ||
          PyTuple_GET_SIZE(value) != static_cast<Py_ssize_t>(node.children.size())) {
        return Mismatch(node, value);
      }
      for (size_t i = 0; i < node.children.size(); ++i) {
        Status status = EncodeNode(node.children[i], PyTuple_GET_ITEM(value, i), w, path);
        if (!status.ok()) {
          PrependPath(path, "[" + std::to_string(i) + "]");
          return status;
        }
      }
      return Status::Ok();
    case SchemaKind::kDict: {
      if (!PyDict_Check(value)) return Mismatch(node, value);
      w.WriteVarint(static_cast<uint64_t>(PyDict_GET_SIZE(value)));
      Py_ssize_t pos = 0;
      PyObject *k, *v;
      while (PyDict_Next(value, &pos, &k, &v)) {
        Status status = EncodeNode(node.children[0], k, w, path);
        if (status.ok()) status = EncodeNode(node.children[1], v, w, path);
        if (!status.ok()) {
          PyObject* repr = PyObject_Repr(k);
          std::string key_text = repr ? PyUnicode_AsUTF8(repr) : "?";
          Py_XDECREF(repr);
          PrependPath(path, "[" + key_text + "]");
          return status;
        }
      }
      return Status::Ok();
    }
    case SchemaKind::kEnum: {
      int is = PyObject_IsInstance(value, node.cls.ptr());
      if (is != 1) {
        PyErr_Clear();
        return Mismatch(node, value);
      }
      PyObject* member_value = PyObject_GetAttrString(value, "value");
      if (member_value == nullptr) return Status::InvalidArgument(PythonErrorText());
      PyTypeNode scalar;
      scalar.kind = node.enum_value_kind;
      Status status = EncodeNode(scalar, member_value, w, path);
      Py_DECREF(member_value);
      return status;
    }
    case SchemaKind::kRecord: {
      int is = PyObject_IsInstance(value, node.cls.ptr());
      if (is != 1) {
        PyErr_Clear();
        return Mismatch(node, value);
      }
      w.WriteVarint(node.children.size());
      for (size_t i = 0; i < node.children.size(); ++i) {
        PyObject* field = PyObject_GetAttr(value, node.field_names[i].ptr());
        if (field == nullptr) {
          PyErr_Clear();
          PrependPath(path, PyUnicode_AsUTF8(node.field_names[i].ptr()));
          return Status::InvalidArgument("the attribute is missing");
        }
        Status status = EncodeNode(node.children[i], field, w, path);
        Py_DECREF(field);
        if (!status.ok()) {
          PrependPath(path, PyUnicode_AsUTF8(node.field_names[i].ptr()));
          return status;
        }
      }
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown schema kind");
}

bool ShallowFits(const PyTypeNode& node, PyObject* value) {
  switch (node.kind) {
    case SchemaKind::kBool:
      return PyBool_Check(value);
    case SchemaKind::kInt:
      return PyLong_Check(value);
    case SchemaKind::kFloat:
      return PyFloat_Check(value) || (PyLong_Check(value) && !PyBool_Check(value));
    case SchemaKind::kStr:
      return PyUnicode_Check(value);
    case SchemaKind::kBytes:
      return PyBytes_Check(value) || PyByteArray_Check(value);
    case SchemaKind::kDatetime:
      return PyDateTime_Check(value);
    case SchemaKind::kOptional:
      return value == Py_None || ShallowFits(node.children[0], value);
    case SchemaKind::kList:
      return PyList_Check(value);
    case SchemaKind::kSet:
    case SchemaKind::kFrozenSet:
      return PyAnySet_Check(value);
    case SchemaKind::kVarTuple:
      return PyTuple_Check(value);
    case SchemaKind::kTuple:
      return PyTuple_Check(value) &&
             PyTuple_GET_SIZE(value) == static_cast<Py_ssize_t>(node.children.size());
    case SchemaKind::kDict:
      return PyDict_Check(value);
    case SchemaKind::kEnum:
    case SchemaKind::kRecord: {
      int is = PyObject_IsInstance(value, node.cls.ptr());
      if (is < 0) PyErr_Clear();
      return is == 1;
    }
  }
  return false;
}

Status Malformed(const PyTypeNode& node) {
  return Status::Corruption("state bytes are malformed while reading " + node.type_name);
}

Status DecodeNode(const PyTypeNode& node, ByteReader& r, PyObject** out) {
  *out = nullptr;
  switch (node.kind) {
    case SchemaKind::kBool: {
      bool v;
      if (!r.ReadBool(&v)) return Malformed(node);
      *out = v ? Py_True : Py_False;
      Py_INCREF(*out);
      break;
    }
    case SchemaKind::kInt: {
      int64_t v;
      if (!r.ReadInt(&v)) return Malformed(node);
      *out = PyLong_FromLongLong(v);
      break;
    }
    case SchemaKind::kFloat: {
      double v;
      if (!r.ReadFloat(&v)) return Malformed(node);
      *out = PyFloat_FromDouble(v);
      break;
    }
    case SchemaKind::kStr: {
      std::string_view v;
      if (!r.ReadString(&v)) return Malformed(node);
      *out = PyUnicode_DecodeUTF8(v.data(), static_cast<Py_ssize_t>(v.size()), "strict");
      break;
    }
    case SchemaKind::kBytes: {
      std::string_view v;
      if (!r.ReadString(&v)) return Malformed(node);
      *out = PyBytes_FromStringAndSize(v.data(), static_cast<Py_ssize_t>(v.size()));
      break;
    }
    case SchemaKind::kDatetime: {
      bool aware;
      int64_t offset = 0, micros;
      if (!r.ReadBool(&aware) || (aware && !r.ReadInt(&offset)) || !r.ReadInt(&micros)) {
        return Malformed(node);
      }
      int64_t days, micros_of_day;
      SplitMicros(micros, &days, &micros_of_day);
      const CivilDate date = CivilFromDays(days);
      const int64_t rem = micros_of_day / 1000000;
      const int64_t fraction = micros_of_day % 1000000;
      PyObject* tz = Py_None;
      PyObject* owned_tz = nullptr;
      if (aware) {
        if (offset == 0) {
          tz = g_timezone_utc;
        } else {
          PyObject* delta = PyDelta_FromDSU(0, static_cast<int>(offset), 0);
          if (delta == nullptr) return Status::Corruption(PythonErrorText());
          owned_tz = PyTimeZone_FromOffset(delta);
          Py_DECREF(delta);
          if (owned_tz == nullptr) return Status::Corruption(PythonErrorText());
          tz = owned_tz;
        }
      }
      *out = PyDateTimeAPI->DateTime_FromDateAndTime(
          static_cast<int>(date.year), static_cast<int>(date.month), static_cast<int>(date.day),
          static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60),
          static_cast<int>(fraction), tz, PyDateTimeAPI->DateTimeType);
      Py_XDECREF(owned_tz);
      break;
    }
    case SchemaKind::kOptional: {
      bool present;
      if (!r.ReadBool(&present)) return Malformed(node);
      if (!present) {
        Py_INCREF(Py_None);
        *out = Py_None;
        return Status::Ok();
      }
      return DecodeNode(node.children[0], r, out);
    }
    case SchemaKind::kList:
    case SchemaKind::kVarTuple: {
      uint64_t count = 0;
      if (!r.ReadCount(&count)) return Malformed(node);
      bool list = node.kind == SchemaKind::kList;
      PyObject* result = list ? PyList_New(static_cast<Py_ssize_t>(count))
                              : PyTuple_New(static_cast<Py_ssize_t>(count));
      if (result == nullptr) return Status::Corruption(PythonErrorText());
      for (uint64_t i = 0; i < count; ++i) {
        PyObject* item;
        Status status = DecodeNode(node.children[0], r, &item);
        if (!status.ok()) {
          // Unfilled slots are NULL, which list and tuple deallocation accept.
          Py_DECREF(result);
          return status;
        }
        if (list) {
          PyList_SET_ITEM(result, static_cast<Py_ssize_t>(i), item);
        } else {
          PyTuple_SET_ITEM(result, static_cast<Py_ssize_t>(i), item);
        }
      }
      *out = result;
      return Status::Ok();
    }
    case SchemaKind::kSet:
    case SchemaKind::kFrozenSet: {
      uint64_t count = 0;
      if (!r.ReadCount(&count)) return Malformed(node);
      PyObject* result =
          node.kind == SchemaKind::kSet ? PySet_New(nullptr) : PyFrozenSet_New(nullptr);
      if (result == nullptr) return Status::Corruption(PythonErrorText());
      for (uint64_t i = 0; i < count; ++i) {
        PyObject* item;
        Status status = DecodeNode(node.children[0], r, &item);
        if (!status.ok() || PySet_Add(result, item) < 0) {
          Py_XDECREF(item);
          Py_DECREF(result);
          return status.ok() ? Status::Corruption(PythonErrorText()) : status;
        }
        Py_DECREF(item);
      }
      *out = result;
      return Status::Ok();
    }
    case SchemaKind::kTuple: {
      PyObject* result = PyTuple_New(static_cast<Py_ssize_t>(node.children.size()));
      if (result == nullptr) return Status::Corruption(PythonErrorText());
      for (size_t i = 0; i < node.children.size(); ++i) {
        PyObject* item;
        Status status = DecodeNode(node.children[i], r, &item);
        if (!status.ok()) {
          Py_DECREF(result);
          return status;
        }
        PyTuple_SET_ITEM(result, static_cast<Py_ssize_t>(i), item);
      }
      *out = result;
      return Status::Ok();
    }
    case SchemaKind::kDict: {
      uint64_t count = 0;
      if (!r.ReadCount(&count)) return Malformed(node);
      PyObject* result = PyDict_New();
      if (result == nullptr) return Status::Corruption(PythonErrorText());
      for (uint64_t i = 0; i < count; ++i) {
        PyObject *k, *v;
        Status status = DecodeNode(node.children[0], r, &k);
        if (!status.ok()) {
          Py_DECREF(result);
          return status;
        }
        status = DecodeNode(node.children[1], r, &v);
        if (!status.ok()) {
          Py_DECREF(k);
          Py_DECREF(result);
          return status;
        }
        int failed = PyDict_SetItem(result, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (failed) {
          Py_DECREF(result);
          return Status::Corruption(PythonErrorText());
        }
      }
      *out = result;
      return Status::Ok();
    }
    case SchemaKind::kEnum: {
      PyTypeNode scalar;
      scalar.kind = node.enum_value_kind;
      scalar.type_name = node.type_name;
      PyObject* raw;
      STATEFOLD_RETURN_IF_ERROR(DecodeNode(scalar, r, &raw));
      *out = PyObject_CallOneArg(node.cls.ptr(), raw);
      Py_DECREF(raw);
      if (*out == nullptr) {
        return Status::Corruption("stored value is not a member of " + node.type_name + ": " +
                                  PythonErrorText());
      }
      return Status::Ok();
    }
    case SchemaKind::kRecord: {
      uint64_t count = 0;
      if (!r.ReadCount(&count) || count != node.children.size()) {
        return Status::Corruption("stored " + node.type_name + " has " + std::to_string(count) +
                                  " fields, its schema " + std::to_string(node.children.size()));
      }
      PyObject* kwargs = PyDict_New();
      for (size_t i = 0; i < node.children.size(); ++i) {
        PyObject* field;
        Status status = DecodeNode(node.children[i], r, &field);
        if (!status.ok()) {
          Py_DECREF(kwargs);
          return status;
        }
        PyDict_SetItem(kwargs, node.field_names[i].ptr(), field);
        Py_DECREF(field);
      }
      PyObject* result = nullptr;
      if (node.plain_pydantic) {
        // What model_construct does for a model given every field, without its Python-level
        // overhead: the instance's __dict__ is the field values, all of them "set".
        PyTypeObject* type = reinterpret_cast<PyTypeObject*>(node.cls.ptr());
        PyObject* empty = PyTuple_New(0);
        result = PyBaseObject_Type.tp_new(type, empty, nullptr);
        Py_DECREF(empty);
        static PyObject* dict_name = PyUnicode_InternFromString("__dict__");
        static PyObject* fields_set_name = PyUnicode_InternFromString("__pydantic_fields_set__");
        static PyObject* extra_name = PyUnicode_InternFromString("__pydantic_extra__");
        static PyObject* private_name = PyUnicode_InternFromString("__pydantic_private__");
        PyObject* fields_set = result != nullptr ? PySet_New(nullptr) : nullptr;
        for (const nb::object& name : node.field_names) {
          if (fields_set != nullptr) PySet_Add(fields_set, name.ptr());
        }
        if (result == nullptr || fields_set == nullptr ||
            PyObject_GenericSetAttr(result, dict_name, kwargs) < 0 ||
            PyObject_GenericSetAttr(result, fields_set_name, fields_set) < 0 ||
            PyObject_GenericSetAttr(result, extra_name, Py_None) < 0 ||
            PyObject_GenericSetAttr(result, private_name, Py_None) < 0) {
          Py_CLEAR(result);
        }
        Py_XDECREF(fields_set);
      } else if (node.flavor == RecordFlavor::kDataclass) {
        // Fields are restored as stored, without running __init__ or __post_init__ again.
        PyTypeObject* type = reinterpret_cast<PyTypeObject*>(node.cls.ptr());
        PyObject* empty = PyTuple_New(0);
        result = type->tp_new(type, empty, nullptr);
        Py_DECREF(empty);
        if (result != nullptr) {
          Py_ssize_t pos = 0;
          PyObject *k, *v;
          while (PyDict_Next(kwargs, &pos, &k, &v)) {
            if (PyObject_GenericSetAttr(result, k, v) < 0) {
              Py_CLEAR(result);
              break;
            }
          }
        }
      } else {
        const char* constructor =
            node.flavor == RecordFlavor::kPydanticV2 ? "model_construct" : "construct";
        PyObject* method = PyObject_GetAttrString(node.cls.ptr(), constructor);
        if (method != nullptr) {
          PyObject* empty = PyTuple_New(0);
          result = PyObject_Call(method, empty, kwargs);
          Py_DECREF(empty);
          Py_DECREF(method);
        }
      }
      Py_DECREF(kwargs);
      if (result == nullptr) {
        return Status::Corruption("cannot rebuild " + node.type_name + ": " + PythonErrorText());
      }
      *out = result;
      return Status::Ok();
    }
  }
  if (*out == nullptr) return Status::Corruption(PythonErrorText());
  return Status::Ok();
}

}  // namespace

void InitPythonCodec() {
  PyDateTime_IMPORT;
  g_timezone_utc = PyDateTime_TimeZone_UTC;
}

std::string PythonErrorText() {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  std::string text = "error";
  if (value != nullptr) {
    PyObject* s = PyObject_Str(value);
    if (s != nullptr) {
      const char* utf8 = PyUnicode_AsUTF8(s);
      if (utf8 != nullptr) text = utf8;
      Py_DECREF(s);
    }
  }
  PyErr_Clear();
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
  return text;
}

std::string Describe(PyObject* value) {
  std::string text = Py_TYPE(value)->tp_name;
  PyObject* repr = PyObject_Repr(value);
  if (repr != nullptr) {
    const char* utf8 = PyUnicode_AsUTF8(repr);
    if (utf8 != nullptr) {
      std::string r = utf8;
      if (r.size() > 60) r = r.substr(0, 57) + "...";
      text += " (" + r + ")";
    }
    Py_DECREF(repr);
  }
  PyErr_Clear();
  return text;
}

PythonCodec::PythonCodec(nb::handle description) { BuildNode(description, &root_); }

Status PythonCodec::Encode(PyObject* value, std::string* out) const {
  ByteWriter writer(out);
  std::string path;
  Status status = EncodeNode(root_, value, writer, &path);
  if (status.ok() || path.empty()) return status;
  return Status::InvalidArgument("field " + path + ": " + status.message());
}

Status PythonCodec::CheckShallow(PyObject* value) const {
  if (!ShallowFits(root_, value)) return Mismatch(root_, value);
  if (root_.kind != SchemaKind::kRecord) return Status::Ok();
  for (size_t i = 0; i < root_.children.size(); ++i) {
    PyObject* field = PyObject_GetAttr(value, root_.field_names[i].ptr());
    if (field == nullptr) {
      PyErr_Clear();
      return Status::InvalidArgument("field " +
                                     std::string(PyUnicode_AsUTF8(root_.field_names[i].ptr())) +
                                     ": the attribute is missing");
    }
    bool fits = ShallowFits(root_.children[i], field);
    Status status =
        fits ? Status::Ok()
             : Status::InvalidArgument("field " +
                                       std::string(PyUnicode_AsUTF8(root_.field_names[i].ptr())) +
                                       ": " + Mismatch(root_.children[i], field).message());
    Py_DECREF(field);
    if (!fits) return status;
  }
  return Status::Ok();
}

Status PythonCodec::Decode(std::string_view payload, nb::object* value) const {
  ByteReader reader(payload);
  PyObject* result;
  STATEFOLD_RETURN_IF_ERROR(DecodeNode(root_, reader, &result));
  *value = nb::steal(result);
  if (!reader.AtEnd()) return Status::Corruption("state bytes continue after the value");
  return Status::Ok();
}

}  // namespace statefold::python
