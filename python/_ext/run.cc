// Run: the engine run with its interrupt and signal handling.

#include "run.h"

#include <memory>
#include <vector>

#include "python_resolver.h"
#include "statefold/source.h"
#include "status_error.h"

namespace statefold::python {
namespace {

std::unique_ptr<Source> OpenSource(nb::handle description) {
  std::unique_ptr<Source> source;
  if (nb::isinstance<FileSourceOptions>(description)) {
    const auto& file = nb::cast<const FileSourceOptions&>(description);
    Check(OpenFileSource(file.name, file.path, &source));
  } else if (nb::isinstance<KafkaSourceOptions>(description)) {
    Check(OpenKafkaSource(nb::cast<KafkaSourceOptions>(description), &source));
  } else {
    throw nb::type_error("a source is a FileSourceOptions or a KafkaSourceOptions");
  }
  return source;
}

nb::str Text(std::string_view text) { return nb::str(text.data(), text.size()); }

}  // namespace

RunStats Run(const EngineOptions& options, nb::list sources, nb::list resolvers,
             nb::object on_feature, nb::object should_stop) {
  EngineOptions engine_options = options;
  // The first pending exception of a signal handler, kept until the run has checkpointed.
  PyObject *stop_type = nullptr, *stop_value = nullptr, *stop_traceback = nullptr;
  engine_options.should_stop = [&]() {
    if (stop_type == nullptr && PyErr_CheckSignals() != 0) {
      PyErr_Fetch(&stop_type, &stop_value, &stop_traceback);
    }
    if (stop_type == nullptr && !should_stop.is_none()) {
      nb::object stop = should_stop();
      return PyObject_IsTrue(stop.ptr()) == 1;
    }
    return stop_type != nullptr;
  };
  if (!on_feature.is_none()) {
    engine_options.on_committed_feature = [&on_feature](const FeatureValue& w) {
      on_feature(Text(w.ns), Text(w.entity_id), Text(w.feature), Text(w.value_json), w.time_ms,
                 w.offset);
    };
  }

  // The sources and resolvers before the engine: a missing input file or a resolver that
  // cannot be made fails before the state directory is opened, and so never creates one.
  // The resolvers are declared before the engine, so that on every path out (an exception
  // included) the engine is destroyed first: it releases its live states through them.
  std::vector<std::unique_ptr<Source>> opened_sources;
  for (nb::handle source : sources) opened_sources.push_back(OpenSource(source));
  std::vector<std::unique_ptr<PythonResolver>> python_resolvers;
  std::vector<Resolver*> engine_resolvers;
  for (nb::handle resolver : resolvers) {
    if (nb::isinstance<PythonResolverConfig>(resolver)) {
      std::unique_ptr<PythonResolver> python_resolver;
      Check(PythonResolver::Create(nb::cast<const PythonResolverConfig&>(resolver),
                                   &python_resolver));
      engine_resolvers.push_back(python_resolver.get());
      python_resolvers.push_back(std::move(python_resolver));
    } else if (nb::isinstance<Resolver>(resolver)) {
      engine_resolvers.push_back(nb::cast<Resolver*>(resolver));  // owned by its native module
    } else {
      throw nb::type_error("a resolver is a PythonResolverConfig or a native module's Resolver");
    }
  }
  std::unique_ptr<Engine> engine;
  Check(Engine::Open(engine_options, &engine));
  for (std::unique_ptr<Source>& source : opened_sources) engine->AddSource(std::move(source));
  for (Resolver* resolver : engine_resolvers) engine->AddResolver(resolver);
  RunStats stats;
  Status status = engine->Run(&stats);
  engine.reset();  // releases live states while the resolvers still exist
  for (auto& resolver : python_resolvers) {
    nb::object interrupt;
    if (resolver->TakeInterrupt(&interrupt)) {
      Py_XDECREF(stop_type);
      Py_XDECREF(stop_value);
      Py_XDECREF(stop_traceback);
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(interrupt.ptr())), interrupt.ptr());
      throw nb::python_error();
    }
  }
  if (stop_type != nullptr) {
    PyErr_Restore(stop_type, stop_value, stop_traceback);
    throw nb::python_error();
  }
  Check(status);
  return stats;
}

}  // namespace statefold::python
