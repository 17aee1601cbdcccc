// Engine: runs resolvers over sources with durable, exactly-once state.
//
//   source -> decode -> partition (key) -> live state -> resolver -> outputs -> checkpoint
//
// Messages are read in batches; each resolver sees its messages in offset order, with the
// live state object of each message's key. Every checkpoint commits, in one atomic write,
// the changed states, the feature values, the dead letters and the source positions, so a
// crash at any instant resumes from exactly the last checkpoint. A message that does not
// decode, or whose resolver fails, becomes a dead letter; a failed resolver's key is rolled
// back to its committed state and its other messages of the epoch are replayed, so the
// failure leaves no trace in state. Single-threaded: one Engine per state directory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "statefold/feature_value.h"
#include "statefold/resolver.h"
#include "statefold/source.h"
#include "statefold/status.h"

namespace statefold {

class Source;

struct EngineOptions {
  // The state directory: created on first use, locked while the engine is open. Each
  // checkpoint also stores the run's metrics there (counters, positions, lag, commit time),
  // for `statefold status` and the server's /metrics.
  std::string state_dir = ".statefold";
  size_t batch_size = 1024;                    // records polled from a source at a time
  size_t checkpoint_every_messages = 2000000;  // whichever comes first ...
  int64_t checkpoint_every_ms = 5000;          // ... of these two
  // Live state objects kept between checkpoints, per resolver.
  size_t state_cache_entries = 1000000;
  size_t max_message_bytes = 1 << 20;  // larger messages are dead-lettered
  bool sync = false;                   // fsync each checkpoint (power-loss safety)
  // Where feature values go: "" or "embedded" (the state directory), or a redis:// URL. While
  // Redis is unreachable, checkpoints wait (retrying) until should_stop.
  std::string online_store;
  // Polled between batches; returning true checkpoints and ends Run.
  std::function<bool()> should_stop;
  // Called for each feature value once its checkpoint committed (tests and tooling); the
  // value's views are valid during the call only.
  std::function<void(const FeatureValue&)> on_committed_feature;
};

// The largest batch_size: a batch's records and their decoded messages are held at once.
inline constexpr size_t kMaxBatchSize = size_t{1} << 20;
// The largest count or duration any option takes (so sums of them cannot wrap).
inline constexpr int64_t kMaxOptionValue = INT64_MAX;

// Checks every option's range: batch_size 1..kMaxBatchSize; checkpoint_every_messages and
// max_message_bytes at least 1; checkpoint_every_ms (0: after every batch) and
// state_cache_entries at least 0; none above kMaxOptionValue. Returns InvalidArgument naming
// the option and its range otherwise. Engine::Open calls it first.
Status ValidateEngineOptions(const EngineOptions& options);

struct RunStats {
  uint64_t messages = 0;         // records read from the sources in this run
  uint64_t outputs = 0;          // resolver calls that returned features
  uint64_t dead_letters = 0;     // dead letters recorded in this run
  uint64_t resolver_errors = 0;  // resolver calls that raised or returned an invalid value
  uint64_t keys = 0;             // keys with state, over all stateful resolvers, after the run
  uint64_t checkpoints = 0;
  double seconds = 0;
  bool interrupted = false;  // should_stop ended the run
  // The partitions assigned to this process that it did not read when the run ended
  // (Source::Refused), with their source's name.
  struct Refused {
    std::string source;
    RefusedPartition partition;
  };
  std::vector<Refused> refused;
};

// Not thread-safe: one thread calls AddSource, AddResolver and Run, in that order.
class Engine {
 public:
  // Opens the state directory (taking its lock) and the online store, and sets *engine.
  // Fails with IOError when another process holds the directory, InvalidArgument for an
  // option out of range (ValidateEngineOptions) or an online store URL that names no backend.
  static Status Open(const EngineOptions& options, std::unique_ptr<Engine>* engine);
  ~Engine();  // releases the live states through their resolvers and the directory's lock

  // Takes ownership of a source; resolvers name it by Source::name().
  void AddSource(std::unique_ptr<Source> source);
  // REQUIRES: the resolver outlives the engine (its destructor releases live states through
  // it), and its spec().source was added. Not owned.
  void AddResolver(Resolver* resolver);

  // Processes every source to its end (or until should_stop), then checkpoints.
  // Fails on store errors or a state schema that changed under stored state; bad messages
  // and failing resolvers never fail the run, they become dead letters. A resolver that
  // interrupts (ResolverOutput::Interrupt) ends the run with Aborted and no checkpoint, and
  // so does should_stop while a checkpoint waits for an unreachable online store, and so does
  // a failed allocation (std::bad_alloc is not thrown through Run). After any failure the
  // engine may be destroyed as usual.
  Status Run(RunStats* stats);

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace statefold
