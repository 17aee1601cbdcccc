// statefold._ext: the binding between the Python SDK and the C++ engine. The NB_MODULE table
// binds the engine's option and result structs as typed classes (a misspelt field is an
// AttributeError where it is set) and its entry points; conversions and delegation only,
// engine behaviour lives in src/. The run itself is in run.cc; errors raise the class of
// their Status code (status_error.h).

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "feature_json.h"
#include "inspect/state_inspector.h"
#include "native/native_module.h"
#include "online/online_store.h"
#include "python_codec.h"
#include "python_resolver.h"
#include "run.h"
#include "serve/feature_service.h"
#include "state/run_status.h"
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

// The resolver loop finds a returned feature by the identity of its interned name first.
nb::object Interned(const std::string& text) {
  PyObject* name = PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
  if (name == nullptr) throw nb::python_error();
  PyUnicode_InternInPlace(&name);
  return nb::steal(name);
}

void BindOptions(nb::module_& m) {
  nb::class_<EngineOptions>(m, "EngineOptions")
      .def(nb::init<>())
      .def_rw("state_dir", &EngineOptions::state_dir)
      .def_rw("batch_size", &EngineOptions::batch_size)
      .def_rw("checkpoint_every_messages", &EngineOptions::checkpoint_every_messages)
      .def_rw("checkpoint_every_ms", &EngineOptions::checkpoint_every_ms)
      .def_rw("state_cache_entries", &EngineOptions::state_cache_entries)
      .def_rw("max_message_bytes", &EngineOptions::max_message_bytes)
      .def_rw("sync", &EngineOptions::sync)
      .def_rw("online_store", &EngineOptions::online_store);
  m.def("validate_engine_options",
        [](const EngineOptions& options) { Check(ValidateEngineOptions(options)); });
  m.attr("MAX_BATCH_SIZE") = kMaxBatchSize;
  m.attr("MAX_OPTION_VALUE") = kMaxOptionValue;

  nb::class_<RunStats>(m, "RunStats")
      .def_ro("messages", &RunStats::messages)
      .def_ro("outputs", &RunStats::outputs)
      .def_ro("dead_letters", &RunStats::dead_letters)
      .def_ro("resolver_errors", &RunStats::resolver_errors)
      .def_ro("keys", &RunStats::keys)
      .def_ro("checkpoints", &RunStats::checkpoints)
      .def_ro("seconds", &RunStats::seconds)
      .def_ro("interrupted", &RunStats::interrupted)
      .def_prop_ro("refused", [](const RunStats& stats) {
        // (source, partition, reason) per partition assigned but not read
        nb::list refused;
        for (const RunStats::Refused& r : stats.refused) {
          refused.append(nb::make_tuple(r.source, r.partition.partition, r.partition.reason));
        }
        return refused;
      });

  nb::class_<FileSourceOptions>(m, "FileSourceOptions")
      .def(
          "__init__",
          [](FileSourceOptions* self, std::string name, std::string path) {
            new (self) FileSourceOptions{std::move(name), std::move(path)};
          },
          "name"_a, "path"_a)
      .def_rw("name", &FileSourceOptions::name)
      .def_rw("path", &FileSourceOptions::path);

  nb::class_<KafkaSourceOptions>(m, "KafkaSourceOptions")
      .def(nb::init<>())
      .def_rw("name", &KafkaSourceOptions::name)
      .def_rw("topic", &KafkaSourceOptions::topic)
      .def_rw("group_id", &KafkaSourceOptions::group_id)
      .def_rw("properties", &KafkaSourceOptions::properties)
      .def_rw("stop_at_end", &KafkaSourceOptions::stop_at_end)
      .def_rw("dead_letter_topic", &KafkaSourceOptions::dead_letter_topic)
      .def_rw("late_arrival_deadline_ms", &KafkaSourceOptions::late_arrival_deadline_ms)
      .def_rw("single_worker", &KafkaSourceOptions::single_worker);

  nb::class_<HttpLimits>(m, "HttpLimits")
      .def(nb::init<>())
      .def_rw("max_header_bytes", &HttpLimits::max_header_bytes)
      .def_rw("max_body_bytes", &HttpLimits::max_body_bytes)
      .def_rw("max_headers", &HttpLimits::max_headers);

  nb::class_<HttpServerOptions>(m, "HttpServerOptions")
      .def(nb::init<>())
      .def_rw("host", &HttpServerOptions::host)
      .def_rw("port", &HttpServerOptions::port)
      .def_rw("threads", &HttpServerOptions::threads)
      .def_rw("limits", &HttpServerOptions::limits)
      .def_rw("idle_timeout_ms", &HttpServerOptions::idle_timeout_ms)
      .def_rw("request_timeout_ms", &HttpServerOptions::request_timeout_ms)
      .def_rw("max_connections", &HttpServerOptions::max_connections);

  nb::class_<FeatureServiceOptions>(m, "FeatureServiceOptions")
      .def(nb::init<>())
      .def_rw("state_dir", &FeatureServiceOptions::state_dir)
      .def_rw("online_store_url", &FeatureServiceOptions::online_store_url)
      .def_rw("wait_for_state_dir", &FeatureServiceOptions::wait_for_state_dir)
      .def_rw("token", &FeatureServiceOptions::token)
      .def_rw("catch_up_interval_ms", &FeatureServiceOptions::catch_up_interval_ms)
      .def_rw("max_query_inputs", &FeatureServiceOptions::max_query_inputs)
      .def_rw("max_query_outputs", &FeatureServiceOptions::max_query_outputs)
      .def_rw("http", &FeatureServiceOptions::http);
}

void BindResolvers(nb::module_& m) {
  nb::class_<ResolverSpec>(m, "ResolverSpec")
      .def(nb::init<>())
      .def_rw("name", &ResolverSpec::name)
      .def_rw("source", &ResolverSpec::source)
      .def_rw("key_path", &ResolverSpec::key_path)
      .def_rw("stateful", &ResolverSpec::stateful)
      .def_rw("state_schema", &ResolverSpec::state_schema);

  nb::enum_<FeatureKind>(m, "FeatureKind")
      .value("ANY", FeatureKind::kAny)
      .value("INT", FeatureKind::kInt)
      .value("FLOAT", FeatureKind::kFloat)
      .value("STR", FeatureKind::kStr)
      .value("BOOL", FeatureKind::kBool);

  nb::class_<OutputFeature>(m, "OutputFeature")
      .def(nb::init<>())
      .def_prop_rw(
          "name", [](const OutputFeature& f) { return f.name; },
          [](OutputFeature& f, const std::string& name) { f.name = Interned(name); })
      .def_rw("fqn", &OutputFeature::fqn)
      .def_rw("kind", &OutputFeature::kind)
      .def_rw("nullable", &OutputFeature::nullable);

  // Assign `outputs` a whole list: reading it gives a new list, not a view of the config's.
  nb::class_<PythonResolverConfig>(m, "PythonResolverConfig")
      .def(nb::init<>())
      .def_rw("spec", &PythonResolverConfig::spec)
      .def_rw("function", &PythonResolverConfig::function)
      .def_rw("event_parser", &PythonResolverConfig::event_parser)
      .def_rw("event_as_text", &PythonResolverConfig::event_as_text)
      .def_rw("parser_takes_headers", &PythonResolverConfig::parser_takes_headers)
      .def_rw("event_position", &PythonResolverConfig::event_position)
      .def_rw("state_position", &PythonResolverConfig::state_position)
      .def_rw("codec", &PythonResolverConfig::codec)
      .def_rw("initial_state", &PythonResolverConfig::initial_state)
      .def_rw("output_class", &PythonResolverConfig::output_class)
      .def_rw("output_namespace", &PythonResolverConfig::output_namespace)
      .def_rw("output_description", &PythonResolverConfig::output_description)
      .def_prop_rw(
          "primary_key", [](const PythonResolverConfig& c) { return c.primary_key; },
          [](PythonResolverConfig& c, const std::string& name) { c.primary_key = Interned(name); })
      .def_rw("outputs", &PythonResolverConfig::outputs);

  // A resolver of a native module, owned by the module (which each one keeps alive).
  nb::class_<Resolver>(m, "Resolver").def_prop_ro("spec", [](const Resolver& r) {
    return r.spec();  // a copy: the module's spec is not the caller's to change
  });

  nb::class_<NativeModule>(m, "NativeModule")
      .def_static("load",
                  [](const std::string& path) {
                    std::unique_ptr<NativeModule> module;
                    Check(NativeModule::Load(path, &module));
                    return module;
                  })
      .def_prop_ro("path", &NativeModule::path)
      .def("resolvers", &NativeModule::resolvers, nb::rv_policy::reference_internal);
}

void BindRunStatus(nb::module_& m) {
  nb::class_<RunStatus> status(m, "RunStatus");
  nb::class_<RunStatus::Partition>(status, "Partition")
      .def_ro("partition", &RunStatus::Partition::partition)
      .def_ro("next_offset", &RunStatus::Partition::next_offset)
      .def_ro("lag", &RunStatus::Partition::lag);
  nb::class_<RunStatus::Source>(status, "Source")
      .def_ro("name", &RunStatus::Source::name)
      .def_ro("skipped_late", &RunStatus::Source::skipped_late)
      .def_ro("partitions", &RunStatus::Source::partitions)
      .def_ro("refused", &RunStatus::Source::refused);
  nb::class_<RefusedPartition>(status, "RefusedPartition")
      .def_ro("partition", &RefusedPartition::partition)
      .def_ro("reason", &RefusedPartition::reason);
  nb::class_<RunStatus::Resolver>(status, "Resolver")
      .def_ro("name", &RunStatus::Resolver::name)
      .def_ro("keys", &RunStatus::Resolver::keys);
  status.def_ro("updated_ms", &RunStatus::updated_ms)
      .def_ro("started_ms", &RunStatus::started_ms)
      .def_ro("messages", &RunStatus::messages)
      .def_ro("outputs", &RunStatus::outputs)
      .def_ro("resolver_errors", &RunStatus::resolver_errors)
      .def_ro("dead_letters", &RunStatus::dead_letters)
      .def_ro("checkpoints", &RunStatus::checkpoints)
      .def_ro("last_checkpoint_commit_ms", &RunStatus::last_checkpoint_commit_ms)
      .def_ro("sources", &RunStatus::sources)
      .def_ro("resolvers", &RunStatus::resolvers)
      .def("to_json", &RunStatus::ToJson);
}

void BindReaders(nb::module_& m) {
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
      .def("stored_key_count",
           [](StateInspector& self, const std::string& resolver) {
             uint64_t keys = 0;
             Check(self.StoredKeyCount(resolver, &keys));
             return keys;
           })
      .def("state_keys",
           [](StateInspector& self, const std::string& resolver, size_t limit) {
             std::vector<std::string> keys;
             Check(self.ListKeys(resolver, limit, &keys));
             return keys;
           })
      .def("run_status",
           [](StateInspector& self) {
             RunStatus status;
             Check(self.ReadRunStatus(&status));
             return status;
           })
      .def("dead_letters",
           [](StateInspector& self, size_t limit) {
             std::vector<std::string> records;
             Check(self.DeadLetters(limit, &records));
             return records;
           })
      // The first `limit` records and how many there are after them.
      .def("dead_letters_and_more", [](StateInspector& self, size_t limit) {
        std::vector<std::string> records;
        uint64_t more = 0;
        Check(self.DeadLetters(limit, &records, &more));
        return std::make_pair(records, more);
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

  m.def("is_embedded_url", &IsEmbeddedUrl, "url"_a);

  m.def("state_reset", [](const std::string& state_dir, const std::string& resolver) {
    Check(ResetResolverState(state_dir, resolver));
  });
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

  BindOptions(m);
  BindResolvers(m);
  BindRunStatus(m);
  BindReaders(m);

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

  m.def("run", &Run, "options"_a, "sources"_a, "resolvers"_a, "on_feature"_a.none() = nb::none(),
        "should_stop"_a.none() = nb::none());

  // The HTTP server runs on its own threads and never takes the GIL.
  nb::class_<FeatureService>(m, "FeatureServer")
      .def_static("start",
                  [](const FeatureServiceOptions& options) {
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
}
