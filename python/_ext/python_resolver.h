// PythonResolver: a Resolver whose user code is a Python function. It converts each message
// to the event object, calls the function with the live state object, and converts the
// returned feature object to feature values. One GIL-holding loop per batch; the engine owns
// everything else. All calls require the GIL (the engine runs on the calling Python thread).
#pragma once

#include <Python.h>
#include <nanobind/nanobind.h>

#include <memory>
#include <string>
#include <vector>

#include "python_codec.h"
#include "statefold/resolver.h"

namespace statefold::python {

namespace nb = nanobind;

// What a feature value must be, from the feature's annotation (checked per output).
enum class FeatureKind : unsigned char { kAny, kInt, kFloat, kStr, kBool };

struct OutputFeature {
  nb::object name;  // interned short name, e.g. "unique_ip_count" (the binding interns it)
  std::string fqn;  // "user.unique_ip_count"
  FeatureKind kind = FeatureKind::kAny;
  bool nullable = true;
};

// A Python resolver as statefold/streams.py defines it (bound as _ext.PythonResolverConfig).
// The objects default to None, so an unset one fails like a user error, never a crash.
struct PythonResolverConfig {
  ResolverSpec spec;
  nb::object function = nb::none();
  nb::object event_parser = nb::none();  // bytes -> event; raises on bad input. None: the payload
  bool event_as_text = false;            // with no parser: pass str instead of bytes
  // Call event_parser(payload, headers: dict[str, bytes | None]).
  bool parser_takes_headers = false;
  int event_position = 0;
  int state_position = -1;               // -1: stateless
  nb::object codec = nb::none();         // a PythonCodec (nb-wrapped) for stateful resolvers
  nb::bytes initial_state{"", 0};        // encoded initial state
  nb::object output_class = nb::none();  // the @features class; None: the resolver returns nothing
  std::string output_namespace;
  std::string output_description;       // "Features[user.id, user.unique_ip_count]"
  nb::object primary_key = nb::none();  // interned short name of the primary key
  std::vector<OutputFeature> outputs;
};

class PythonResolver : public Resolver {
 public:
  // Fails with InvalidArgument when the config is inconsistent: stateful without a Codec,
  // or positions that are not those of a one- or two-parameter function.
  static Status Create(PythonResolverConfig config, std::unique_ptr<PythonResolver>* resolver);

  const ResolverSpec& spec() const override { return config_.spec; }
  size_t RunBatch(std::span<const Message> messages, std::span<const StateHandle> states,
                  ResolverOutput* output) override;
  Status NewState(StateHandle* state) override;
  Status DecodeState(std::string_view bytes, StateHandle* state) override;
  Status EncodeState(StateHandle state, std::string* out) override;
  void ReleaseState(StateHandle state) override;

  // A KeyboardInterrupt, SystemExit or other BaseException that is not an Exception stops the
  // run instead of becoming a dead letter; it is kept here to be raised when the run returns.
  bool TakeInterrupt(nb::object* exception);

 private:
  PythonResolver(PythonResolverConfig config, const PythonCodec* codec);
  // Checks a returned feature object and adds its values to `output`; nothing is added on failure.
  Status AddOutputs(uint32_t index, PyObject* result, ResolverOutput* output);
  std::string FormatException();

  PythonResolverConfig config_;
  nb::object format_exception_;  // traceback.format_exception
  nb::object interrupt_;
  const PythonCodec* codec_ = nullptr;
  std::string entity_scratch_;
  std::string values_scratch_;
  std::vector<std::pair<const OutputFeature*, std::pair<size_t, size_t>>> pending_;
};

}  // namespace statefold::python
