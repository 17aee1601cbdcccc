// statefold._ext: the binding between the Python SDK and the C++ engine. Conversions and
// delegation only; engine behaviour lives in src/.

#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "feature_json.h"
#include "native/native_module.h"
#include "online/online_store.h"
#include "python_codec.h"
#include "python_resolver.h"
#include "serve/feature_service.h"
#include "state/state_inspector.h"
#include "statefold/engine.h"
#include "statefold/source.h"
#include "status_error.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace statefold::python {
namespace {

// (name, value JSON, time_ms, offset) per feature.
nb::list FeatureTuples(const std::vector<StoredFeature>& features) {
  nb::list result;
  for (const StoredFeature& f : features) {
    result.append(nb::make_tuple(f.feature, f.value_json, f.time_ms, f.offset));
  }
  return result;
}

struct OnlineReader {
  std::unique_ptr<OnlineStore> store;
};

nb::object InternedName(const std::string& text) {
  PyObject* name = PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
  PyUnicode_InternInPlace(&name);
  return nb::steal(name);
}

std::unique_ptr<PythonResolver> MakeResolver(nb::dict d) {
  PythonResolverConfig c;
  c.spec.name = nb::cast<std::string>(d["name"]);
  c.spec.source = nb::cast<std::string>(d["source"]);
  c.spec.key_path = nb::cast<std::vector<std::string>>(d["key_path"]);
  c.spec.stateful = !d["codec"].is_none();
  c.function = nb::borrow(d["function"]);
  c.event_parser = nb::borrow(d["event_parser"]);
  c.event_as_text = nb::cast<bool>(d["event_as_text"]);
  c.parser_takes_headers = nb::cast<bool>(d["parser_takes_headers"]);
  c.event_position = nb::cast<int>(d["event_position"]);
  c.state_position = nb::cast<int>(d["state_position"]);
  if (c.spec.stateful) {
    c.codec = nb::borrow(d["codec"]);
    c.spec.state_schema = nb::cast<std::string>(d["state_schema"]);
    c.initial_state = nb::borrow<nb::bytes>(d["initial_state"]);
  }
  c.output_class = nb::borrow(d["output_class"]);
  if (!c.output_class.is_none()) {
    c.output_namespace = nb::cast<std::string>(d["output_namespace"]);
    c.output_description = nb::cast<std::string>(d["output_description"]);
    c.primary_key = InternedName(nb::cast<std::string>(d["primary_key"]));
    for (nb::handle f : nb::borrow<nb::list>(d["outputs"])) {
      nb::tuple t = nb::borrow<nb::tuple>(f);  // (name, fqn, kind, nullable)
      OutputFeature feature;
      feature.name = InternedName(nb::cast<std::string>(t[0]));
      feature.fqn = nb::cast<std::string>(t[1]);
      std::string kind = nb::cast<std::string>(t[2]);
      feature.kind = kind == "int"     ? FeatureKind::kInt
                     : kind == "float" ? FeatureKind::kFloat
                     : kind == "str"   ? FeatureKind::kStr
                     : kind == "bool"  ? FeatureKind::kBool
                                       : FeatureKind::kAny;
      feature.nullable = nb::cast<bool>(t[3]);
      c.outputs.push_back(std::move(feature));
    }
  }
  c.format_exception = nb::module_::import_("traceback").attr("format_exception");
  return std::make_unique<PythonResolver>(std::move(c));
}

// Runs the engine on the calling thread, holding the GIL: resolver calls then need no GIL
// round-trips. Signals are polled between batches; a pending exception (Ctrl-C, SIGTERM
// handler) stops the run after a final checkpoint and is re-raised.
// A source from its description: {"kind": "file", "name", "path"} or {"kind": "kafka",
// "name", "topic", "group_id", "properties": {librdkafka property: value}, "stop_at_end"}.
std::unique_ptr<Source> MakeSource(nb::dict d) {
  std::string kind = nb::cast<std::string>(d["kind"]);
  std::string name = nb::cast<std::string>(d["name"]);
  std::unique_ptr<Source> source;
  if (kind == "file") {
    Check(OpenFileSource(name, nb::cast<std::string>(d["path"]), &source));
  } else {
    KafkaSourceOptions options;
    options.name = name;
    options.topic = nb::cast<std::string>(d["topic"]);
    options.group_id = nb::cast<std::string>(d["group_id"]);
    options.stop_at_end = nb::cast<bool>(d["stop_at_end"]);
    options.late_arrival_deadline_ms = nb::cast<int64_t>(d["late_arrival_deadline_ms"]);
    if (!d["dead_letter_topic"].is_none()) {
      options.dead_letter_topic = nb::cast<std::string>(d["dead_letter_topic"]);
    }
    for (auto [key, value] : nb::borrow<nb::dict>(d["properties"])) {
      options.properties.emplace_back(nb::cast<std::string>(key),
                                      nb::cast<std::string>(nb::str(value)));
    }
    Check(OpenKafkaSource(std::move(options), &source));
  }
  return source;
}

nb::dict Run(const std::string& state_dir, nb::list sources, nb::list resolver_specs,
             nb::dict options, nb::object on_feature, nb::object should_stop) {
  EngineOptions engine_options;
  engine_options.state_dir = state_dir;
  if (options.contains("batch_size"))
    engine_options.batch_size = nb::cast<size_t>(options["batch_size"]);
  if (options.contains("checkpoint_every_messages")) {
    engine_options.checkpoint_every_messages =
        nb::cast<size_t>(options["checkpoint_every_messages"]);
  }
  if (options.contains("checkpoint_every_ms")) {
    engine_options.checkpoint_every_ms = nb::cast<int64_t>(options["checkpoint_every_ms"]);
  }
  if (options.contains("state_cache_entries")) {
    engine_options.state_cache_entries = nb::cast<size_t>(options["state_cache_entries"]);
  }
  if (options.contains("max_message_bytes")) {
    engine_options.max_message_bytes = nb::cast<size_t>(options["max_message_bytes"]);
  }
  if (options.contains("sync")) engine_options.sync = nb::cast<bool>(options["sync"]);
  if (options.contains("online_store")) {
    engine_options.online_store = nb::cast<std::string>(options["online_store"]);
  }

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
      on_feature(nb::str(w.ns.data(), w.ns.size()), nb::str(w.entity_id.data(), w.entity_id.size()),
                 nb::str(w.feature.data(), w.feature.size()),
                 nb::str(w.value_json.data(), w.value_json.size()), w.time_ms, w.offset);
    };
  }

  std::unique_ptr<Engine> engine;
  Check(Engine::Open(engine_options, &engine));
  for (nb::handle source : sources) engine->AddSource(MakeSource(nb::borrow<nb::dict>(source)));
  std::vector<std::unique_ptr<PythonResolver>> resolvers;
  for (nb::handle spec : resolver_specs) {
    nb::dict d = nb::borrow<nb::dict>(spec);
    if (d.contains("native_module")) {  // owned by the module, which the caller keeps alive
      NativeModule& module = nb::cast<NativeModule&>(d["native_module"]);
      engine->AddResolver(module.resolvers().at(nb::cast<size_t>(d["native_index"])));
      continue;
    }
    resolvers.push_back(MakeResolver(d));
    engine->AddResolver(resolvers.back().get());
  }
  RunStats stats;
  Status status = engine->Run(&stats);
  engine.reset();  // releases live states while the resolvers still exist
  for (auto& resolver : resolvers) {
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
  nb::dict result;
  result["messages"] = stats.messages;
  result["outputs"] = stats.outputs;
  result["dead_letters"] = stats.dead_letters;
  result["resolver_errors"] = stats.resolver_errors;
  result["keys"] = stats.keys;
  result["checkpoints"] = stats.checkpoints;
  result["seconds"] = stats.seconds;
  return result;
}

// The serving API's options from {"state_dir", "online_store", "wait_for_state_dir", "host",
// "port", "token", "threads"} (all optional).
FeatureServiceOptions ServeOptions(nb::dict d) {
  FeatureServiceOptions options;
  auto text = [&](const char* key, std::string* out) {
    if (d.contains(key) && !d[key].is_none()) *out = nb::cast<std::string>(d[key]);
  };
  text("state_dir", &options.state_dir);
  text("online_store", &options.online_store_url);
  text("token", &options.token);
  text("host", &options.http.host);
  if (d.contains("wait_for_state_dir")) {
    options.wait_for_state_dir = nb::cast<bool>(d["wait_for_state_dir"]);
  }
  if (d.contains("port")) options.http.port = nb::cast<int>(d["port"]);
  if (d.contains("threads")) options.http.threads = nb::cast<int>(d["threads"]);
  return options;
}

}  // namespace
}  // namespace statefold::python

NB_MODULE(_ext, m) {
  using namespace statefold;
  using namespace statefold::python;
  InitPythonCodec();
  InitFeatureJson();
  RegisterErrorClasses();
  // Resolver definitions (and the codecs they hold) live in user modules until interpreter
  // shutdown, after nanobind's leak check: its warnings would be noise on every exit.
  nb::set_leak_warnings(false);

  nb::class_<PythonCodec>(m, "Codec")
      .def(nb::init<nb::handle>(), "description"_a)
      .def("encode",
           [](const PythonCodec& codec, nb::handle value) {
             std::string out;
             Check(codec.Encode(value.ptr(), &out));
             return nb::bytes(out.data(), out.size());
           })
      .def("decode", [](const PythonCodec& codec, nb::bytes payload) {
        nb::object value;
        Check(codec.Decode(std::string_view(payload.c_str(), payload.size()), &value));
        return value;
      });

  m.def("run", &Run, "state_dir"_a, "sources"_a, "resolvers"_a, "options"_a, "on_feature"_a.none(),
        "should_stop"_a.none() = nb::none());

  nb::class_<StateInspector>(m, "Inspector")
      .def_static("open",
                  [](const std::string& state_dir, bool follow) {
                    std::unique_ptr<StateInspector> inspector;
                    Check(StateInspector::Open(state_dir, follow, &inspector));
                    return inspector;
                  })
      .def("refresh", [](StateInspector& self) { Check(self.Refresh()); })
      .def("features",
           [](StateInspector& self, const std::string& ns, const std::string& id) {
             std::vector<StoredFeature> features;
             Check(self.Features(ns, id, &features));
             return FeatureTuples(features);
           })
      .def("state_json",
           [](StateInspector& self, const std::string& resolver, const std::string& key) {
             std::string json;
             Check(self.StateJson(resolver, key, &json));
             return json;
           })
      .def("state_payload",
           [](StateInspector& self, const std::string& resolver, const std::string& key) {
             std::string payload;
             Check(self.StatePayload(resolver, key, &payload));
             return nb::bytes(payload.data(), payload.size());
           })
      .def("state_schema",
           [](StateInspector& self, const std::string& resolver) {
             std::string json;
             Check(self.Schema(resolver, &json));
             return json;
           })
      .def("state_keys",
           [](StateInspector& self, const std::string& resolver, size_t limit) {
             std::vector<std::string> keys;
             Check(self.ListKeys(resolver, limit, &keys));
             return keys;
           })
      .def("status",
           [](StateInspector& self) {
             RunStatus status;
             Check(self.ReadRunStatus(&status));
             return status.ToJson();
           })
      .def("dead_letters", [](StateInspector& self, size_t limit) {
        std::vector<std::string> records;
        Check(self.DeadLetters(limit, &records));
        return records;
      });

  nb::class_<NativeModule>(m, "NativeModule")
      .def_static("load",
                  [](const std::string& path) {
                    std::unique_ptr<NativeModule> module;
                    Check(NativeModule::Load(path, &module));
                    return module;
                  })
      .def_prop_ro("path", &NativeModule::path)
      .def("resolvers", [](const NativeModule& self) {
        nb::list result;
        for (const Resolver* resolver : self.resolvers()) {
          const ResolverSpec& spec = resolver->spec();
          nb::dict info;
          info["name"] = spec.name;
          info["source"] = spec.source;
          info["key_path"] = spec.key_path;
          info["stateful"] = spec.stateful;
          info["state_schema"] = spec.state_schema;
          result.append(info);
        }
        return result;
      });

  // An online store named by a URL (redis://...), for Client(online_store=...): features()
  // returns the same tuples as Inspector.features.
  nb::class_<OnlineReader>(m, "OnlineReader")
      .def("__init__",
           [](OnlineReader* self, const std::string& url) {
             std::unique_ptr<OnlineStore> store;
             Check(OpenOnlineStore({url, nullptr}, nullptr, &store));
             new (self) OnlineReader{std::move(store)};
           })
      .def("features", [](OnlineReader& self, const std::string& ns, const std::string& id) {
        std::vector<StoredFeature> features;
        Check(self.store->ReadEntity(ns, id, &features));
        if (features.empty()) RaiseStatus(Status::NotFound("no features for " + ns + " " + id));
        return FeatureTuples(features);
      });

  // The HTTP server runs on its own threads and never takes the GIL.
  nb::class_<FeatureService>(m, "FeatureServer")
      .def_static("start",
                  [](nb::dict d) {
                    FeatureServiceOptions options = ServeOptions(d);
                    std::unique_ptr<FeatureService> service;
                    Status status;
                    {
                      nb::gil_scoped_release release;
                      status = FeatureService::Start(options, &service);
                    }
                    Check(status);
                    return service;
                  })
      .def("stop", &FeatureService::Stop, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("port", &FeatureService::port);

  m.def("state_reset", [](const std::string& state_dir, const std::string& resolver) {
    Check(ResetResolverState(state_dir, resolver));
  });
}
