// Run: the engine run that statefold/runtime.py starts. It opens the sources, makes a
// PythonResolver per Python resolver and runs the engine on the calling thread, holding the
// GIL, so that resolver calls need no GIL round-trips. All calls require the GIL.
#pragma once

#include <nanobind/nanobind.h>

#include <string>

#include "statefold/engine.h"

namespace statefold::python {

namespace nb = nanobind;

// A JSON Lines file source as the SDK describes it: OpenFileSource's arguments (bound as
// _ext.FileSourceOptions; a Kafka source is described by a KafkaSourceOptions).
struct FileSourceOptions {
  std::string name;
  std::string path;
};

// Runs the engine with `options` over `sources` (FileSourceOptions or KafkaSourceOptions
// objects) and `resolvers` (PythonResolverConfig objects, or Resolver objects of a native
// module, which the caller keeps alive), to the sources' end or until `should_stop()` (None
// or a callable, asked between batches) returns true. `on_feature` (None or a callable)
// is called with (namespace, entity id, feature, value JSON, time_ms, offset) for each
// feature value as its checkpoint commits; options.should_stop and
// options.on_committed_feature are set from these two.
//
// Signals are polled between batches: a pending exception (Ctrl-C, a raising signal handler)
// stops the run after a final checkpoint and is raised. So is a KeyboardInterrupt or other
// BaseException raised in a resolver, which stops the run without that checkpoint. Other
// failures raise the statefold.errors class of their Status code.
RunStats Run(const EngineOptions& options, nb::list sources, nb::list resolvers,
             nb::object on_feature, nb::object should_stop);

}  // namespace statefold::python
