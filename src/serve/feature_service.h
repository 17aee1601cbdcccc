// FeatureService: the serving API over HTTP. Reads feature values from an online store, one
// store instance per event-loop thread, and exports the engine's and the server's metrics.
//
//   GET  /v1/features/{namespace}/{id}  one entity's features with their times and offsets
//   POST /v1/query                      rows for a list of primary keys (ChalkClient.query)
//   GET  /metrics                       Prometheus text: the engine's last checkpoint, the server
//   GET  /healthz                       {"status":"ok"}, never behind the token
//
// The embedded store is read from the state directory as a RocksDB secondary instance that
// follows the engine (in this process or another): a background thread catches up with the
// engine's commits every catch_up_interval_ms, while the loops read. RocksDB allows that:
// a read pins the current version of the data and reads at the last fully applied sequence
// number, so it sees whole checkpoints, never half of one. docs/operations.md describes the
// routes, metrics and errors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "serve/http_server.h"
#include "statefold/status.h"

namespace statefold {

struct FeatureServiceOptions {
  // The engine's state directory: the embedded online store and the engine's metrics. May be
  // empty with a remote online store (the engine's metrics are then left out).
  std::string state_dir;
  // "" or "embedded": the state directory's store; "redis://...": a Redis online store.
  std::string online_store_url;
  // When the state directory does not exist yet (the engine in this process is about to
  // create it), keep trying to open it instead of failing; until then feature reads answer
  // 503. Without it, Start fails with NotFound.
  bool wait_for_state_dir = false;
  // Non-empty: every route but /healthz requires "Authorization: Bearer <token>".
  std::string token;
  int64_t catch_up_interval_ms = 100;
  size_t max_query_inputs = 1000;  // ids per POST /v1/query
  size_t max_query_outputs = 256;  // features per POST /v1/query
  HttpServerOptions http;
};

class FeatureService {
 public:
  // Opens the stores and starts serving. Fails with NotFound for a missing state directory
  // (unless wait_for_state_dir), InvalidArgument for an unknown online store URL or bad
  // host, IOError when the port is taken.
  static Status Start(const FeatureServiceOptions& options,
                      std::unique_ptr<FeatureService>* service);
  ~FeatureService();  // Stop()

  // Stops serving and joins every thread. Idempotent.
  void Stop();
  int port() const;

  class Impl;

 private:
  explicit FeatureService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace statefold
