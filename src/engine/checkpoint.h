// Checkpoint: when the engine commits, and the commit. The engine's loop asks Due() after
// every batch; when it is, each component stages its writes into batch() (in the order that
// Engine::Impl::Checkpoint writes down) and Commit() applies them to the state store in one
// atomic write, so state, feature values, dead letters and source positions always move
// together: after a crash at any instant, a reopened store shows exactly the last commit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "state/state_store.h"
#include "statefold/status.h"

namespace statefold {

class Checkpoint {
 public:
  struct Options {
    size_t every_messages = 2000000;  // whichever comes first ...
    int64_t every_ms = 5000;          // ... of these two
  };

  // Commits into `store` (REQUIRES: outlives this). The first interval starts now.
  Checkpoint(StateStore* store, const Options& options);

  // Counts a message read into the open epoch.
  void CountMessage() { ++messages_; }
  // Whether the open epoch should be committed: it holds messages, and it reached its message
  // count or its time, or the epoch log is full (`log_full`).
  bool Due(bool log_full) const {
    if (messages_ == 0) return false;
    return messages_ >= options_.every_messages || log_full ||
           std::chrono::steady_clock::now() - started_ >=
               std::chrono::milliseconds(options_.every_ms);
  }

  // Where the components stage the writes of the next commit.
  CheckpointBatch* batch() { return &batch_; }

  // Commits every staged write atomically and starts the next interval. On failure nothing
  // of the batch is committed (and the engine stops).
  Status Commit();

  uint64_t committed() const { return committed_; }  // commits so far
  // How long the previous commit's write took (milliseconds; 0 before the first).
  double last_commit_ms() const { return last_commit_ms_; }

 private:
  StateStore* store_;
  Options options_;
  CheckpointBatch batch_;
  size_t messages_ = 0;  // read into the open epoch
  std::chrono::steady_clock::time_point started_;
  uint64_t committed_ = 0;
  double last_commit_ms_ = 0;
};

}  // namespace statefold
