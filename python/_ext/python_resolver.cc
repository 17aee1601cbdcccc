// PythonResolver: the per-message loop of a Python stream resolver.

#include "python_resolver.h"

#include <nanobind/stl/string.h>  // nb::cast<std::string>: without it, a bad_cast at run time

#include <charconv>

#include "feature_json.h"
#include "statefold/coding.h"

namespace statefold::python {
namespace {

// Takes the raised exception (with its traceback attached) off the thread state.
PyObject* TakeException() {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (value != nullptr && traceback != nullptr) PyException_SetTraceback(value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  return value;
}

// Message::headers as a dict of name -> bytes (None for a null value; a repeated name keeps
// its last value).
PyObject* HeadersDict(std::string_view encoded) {
  PyObject* dict = PyDict_New();
  ByteReader reader(encoded);
  while (dict != nullptr && !reader.AtEnd()) {
    std::string_view name, bytes;
    bool present;
    if (!reader.ReadString(&name) || !reader.ReadBool(&present) ||
        (present && !reader.ReadString(&bytes))) {
      break;
    }
    PyObject* value =
        present ? PyBytes_FromStringAndSize(bytes.data(), static_cast<Py_ssize_t>(bytes.size()))
                : Py_NewRef(Py_None);
    PyObject* key =
        PyUnicode_DecodeUTF8(name.data(), static_cast<Py_ssize_t>(name.size()), "replace");
    if (key == nullptr || value == nullptr || PyDict_SetItem(dict, key, value) < 0) {
      Py_XDECREF(key);
      Py_XDECREF(value);
      Py_CLEAR(dict);
      break;
    }
    Py_DECREF(key);
    Py_DECREF(value);
  }
  return dict;
}

}  // namespace

Status PythonResolver::Create(PythonResolverConfig config,
                              std::unique_ptr<PythonResolver>* resolver) {
  // The config is set field by field from Python; the loop indexes its call arguments by
  // these positions and decodes states with the codec, so an inconsistent one is refused.
  const PythonCodec* codec = nullptr;
  bool valid;
  if (config.spec.stateful) {
    valid = nb::try_cast<const PythonCodec*>(config.codec, codec) && codec != nullptr &&
            ((config.event_position == 0 && config.state_position == 1) ||
             (config.event_position == 1 && config.state_position == 0));
  } else {
    valid = config.event_position == 0 && config.state_position == -1;
  }
  if (!valid) {
    return Status::InvalidArgument(
        "resolver " + config.spec.name +
        ": a stateful config needs a Codec and event and state positions 0 and 1; a stateless "
        "one has event position 0 and state position -1");
  }
  resolver->reset(new PythonResolver(std::move(config), codec));
  return Status::Ok();
}

PythonResolver::PythonResolver(PythonResolverConfig config, const PythonCodec* codec)
    : config_(std::move(config)),
      format_exception_(nb::module_::import_("traceback").attr("format_exception")),
      codec_(codec) {}

std::string PythonResolver::FormatException() {
  PyObject* exception = TakeException();
  std::string text;
  PyObject* lines = PyObject_CallOneArg(format_exception_.ptr(), exception);
  if (lines != nullptr) {
    PyObject* empty = PyUnicode_FromString("");
    PyObject* joined = PyUnicode_Join(empty, lines);
    Py_DECREF(empty);
    if (joined != nullptr) {
      text = PyUnicode_AsUTF8(joined);
      Py_DECREF(joined);
    }
    Py_DECREF(lines);
  }
  PyErr_Clear();
  if (text.empty()) text = Describe(exception);
  Py_XDECREF(exception);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

size_t PythonResolver::RunBatch(std::span<const Message> messages,
                                std::span<const StateHandle> states, ResolverOutput* output) {
  PyObject* args[2];
  const bool stateful = config_.state_position >= 0;
  const size_t nargs = stateful ? 2 : 1;
  PyObject* function = config_.function.ptr();
  PyObject* parser = config_.event_parser.is_none() ? nullptr : config_.event_parser.ptr();
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    const uint32_t index = static_cast<uint32_t>(i);
    PyObject* payload =
        config_.event_as_text && parser == nullptr
            ? PyUnicode_DecodeUTF8(m.value.data(), static_cast<Py_ssize_t>(m.value.size()),
                                   "strict")
            : PyBytes_FromStringAndSize(m.value.data(), static_cast<Py_ssize_t>(m.value.size()));
    if (payload == nullptr) {
      output->Reject(index, "message value is not valid UTF-8");
      PyErr_Clear();
      continue;
    }
    PyObject* event = payload;
    if (parser != nullptr) {
      if (config_.parser_takes_headers) {
        PyObject* headers = HeadersDict(m.headers);
        PyObject* args[2] = {payload, headers};
        event = headers != nullptr ? PyObject_Vectorcall(parser, args, 2, nullptr) : nullptr;
        Py_XDECREF(headers);
      } else {
        event = PyObject_CallOneArg(parser, payload);
      }
      Py_DECREF(payload);
      if (event == nullptr) {
        PyObject* exception = TakeException();
        PyObject* text = PyObject_Str(exception);
        std::string reason = "message does not decode into the event type: ";
        reason += text != nullptr ? PyUnicode_AsUTF8(text) : "unknown error";
        Py_XDECREF(text);
        Py_XDECREF(exception);
        PyErr_Clear();
        output->Reject(index, std::move(reason));
        continue;
      }
      if (event == Py_None) {  // a parse= function that returns None skips the message
        Py_DECREF(event);
        continue;
      }
    }
    args[config_.event_position] = event;
    if (stateful) args[config_.state_position] = static_cast<PyObject*>(states[i]);
    PyObject* result = PyObject_Vectorcall(function, args, nargs, nullptr);
    Py_DECREF(event);
    if (result == nullptr) {
      if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        interrupt_ = nb::steal(TakeException());
        output->Interrupt(index);
        return i + 1;
      }
      output->Fail(index, FormatException());
      return i + 1;
    }
    if (stateful) {
      Status status = codec_->CheckShallow(static_cast<PyObject*>(states[i]));
      if (!status.ok()) {
        Py_DECREF(result);
        output->Fail(index,
                     "resolver " + config_.spec.name +
                         " left the state in a shape its schema cannot store: " + status.message());
        return i + 1;
      }
    }
    if (result != Py_None) {
      Status status = AddOutputs(index, result, output);
      if (!status.ok()) {
        Py_DECREF(result);
        output->Fail(index, "resolver " + config_.spec.name +
                                " returned an invalid value: " + status.message());
        return i + 1;
      }
    }
    Py_DECREF(result);
  }
  return messages.size();
}

namespace {

bool FitsKind(PyObject* value, FeatureKind kind) {
  switch (kind) {
    case FeatureKind::kAny:
      return true;
    case FeatureKind::kInt:
      return PyLong_Check(value) && !PyBool_Check(value);
    case FeatureKind::kFloat:
      return PyFloat_Check(value) || (PyLong_Check(value) && !PyBool_Check(value));
    case FeatureKind::kStr:
      return PyUnicode_Check(value);
    case FeatureKind::kBool:
      return PyBool_Check(value);
  }
  return false;
}

const char* KindName(FeatureKind kind) {
  switch (kind) {
    case FeatureKind::kInt:
      return "int";
    case FeatureKind::kFloat:
      return "float";
    case FeatureKind::kStr:
      return "str";
    case FeatureKind::kBool:
      return "bool";
    default:
      return "any";
  }
}

}  // namespace

Status PythonResolver::AddOutputs(uint32_t index, PyObject* result, ResolverOutput* output) {
  if (config_.output_class.is_none()) {
    return Status::InvalidArgument("it declares no outputs but returned " + Describe(result));
  }
  if (PyObject_IsInstance(result, config_.output_class.ptr()) != 1) {
    PyErr_Clear();
    return Status::InvalidArgument("expected " + config_.output_description + ", got " +
                                   Describe(result));
  }
  PyObject* dict = PyObject_GenericGetDict(result, nullptr);
  if (dict == nullptr) {
    PyErr_Clear();
    return Status::InvalidArgument("the returned feature object has no values");
  }
  nb::object owned_dict = nb::steal(dict);
  // Primary key first: every value is stored under it.
  PyObject* id = PyDict_GetItemWithError(dict, config_.primary_key.ptr());
  if (id == nullptr || id == Py_None) {
    PyErr_Clear();
    return Status::InvalidArgument("the returned " + config_.output_namespace +
                                   " features have no primary key " + config_.output_namespace +
                                   "." + nb::cast<std::string>(config_.primary_key));
  }
  if (PyUnicode_Check(id)) {
    Py_ssize_t size;
    const char* utf8 = PyUnicode_AsUTF8AndSize(id, &size);
    entity_scratch_.assign(utf8, static_cast<size_t>(size));
  } else if (PyLong_Check(id) && !PyBool_Check(id)) {
    long long v = PyLong_AsLongLong(id);
    char buffer[24];
    entity_scratch_.assign(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr);
  } else {
    return Status::InvalidArgument("the primary key must be a str or an int, got " + Describe(id));
  }
  values_scratch_.clear();
  pending_.clear();
  Py_ssize_t pos = 0;
  PyObject *name, *value;
  while (PyDict_Next(dict, &pos, &name, &value)) {
    const OutputFeature* feature = nullptr;
    for (const OutputFeature& f : config_.outputs) {
      if (f.name.ptr() == name) {
        feature = &f;
        break;
      }
    }
    if (feature == nullptr) {
      for (const OutputFeature& f : config_.outputs) {
        if (PyUnicode_Compare(f.name.ptr(), name) == 0) {
          feature = &f;
          break;
        }
      }
    }
    if (feature == nullptr) {
      const char* text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : "?";
      return Status::InvalidArgument("feature " + config_.output_namespace + "." + text +
                                     " is not among the declared outputs " +
                                     config_.output_description);
    }
    if (value == Py_None ? !feature->nullable : !FitsKind(value, feature->kind)) {
      return Status::InvalidArgument("feature " + feature->fqn + " is " + KindName(feature->kind) +
                                     (feature->nullable ? " or None" : "") + ", got " +
                                     Describe(value));
    }
    size_t begin = values_scratch_.size();
    STATEFOLD_RETURN_IF_ERROR(
        AppendJsonValue(value, &values_scratch_).WithContext("feature " + feature->fqn));
    pending_.push_back({feature, {begin, values_scratch_.size() - begin}});
  }
  std::string_view values(values_scratch_);
  output->StartEntity(index, config_.output_namespace, entity_scratch_);
  for (const auto& [feature, range] : pending_) {
    Py_ssize_t size;
    const char* short_name = PyUnicode_AsUTF8AndSize(feature->name.ptr(), &size);
    std::string_view value = values.substr(range.first, range.second);
    output->AddValue(std::string_view(short_name, static_cast<size_t>(size)),
                     [value](std::string* out) { out->append(value); });
  }
  return Status::Ok();
}

bool PythonResolver::TakeInterrupt(nb::object* exception) {
  if (!interrupt_.is_valid()) return false;
  *exception = std::move(interrupt_);
  return true;
}

Status PythonResolver::NewState(StateHandle* state) {
  // The initial payload was encoded and checked at definition time, so this fails only when
  // memory runs out.
  nb::object value;
  STATEFOLD_RETURN_IF_ERROR(
      codec_
          ->Decode(std::string_view(config_.initial_state.c_str(), config_.initial_state.size()),
                   &value)
          .WithContext("cannot create the initial state of " + config_.spec.name));
  *state = value.release().ptr();
  return Status::Ok();
}

Status PythonResolver::DecodeState(std::string_view bytes, StateHandle* state) {
  nb::object value;
  STATEFOLD_RETURN_IF_ERROR(codec_->Decode(bytes, &value));
  *state = value.release().ptr();
  return Status::Ok();
}

Status PythonResolver::EncodeState(StateHandle state, std::string* out) {
  return codec_->Encode(static_cast<PyObject*>(state), out);
}

void PythonResolver::ReleaseState(StateHandle state) { Py_XDECREF(static_cast<PyObject*>(state)); }

}  // namespace statefold::python
