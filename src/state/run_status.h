// RunStatus: the metrics of an engine's run, stored with every checkpoint (under the meta key
// state_layout::kRunStatusKey) for `statefold status`, the server's /metrics and the Python
// Client. The engine fills one and stores ToJson(); readers Parse it back. This file owns the
// record's JSON form:
//
//   {"updated_ms": N, "run": {"started_ms", "messages", "outputs", "resolver_errors",
//    "dead_letters", "checkpoints", "last_checkpoint_commit_ms"},
//    "sources": {"<name>": {"skipped_late": N, "partitions": {"<p>": {"next_offset": N,
//    "lag": N | null}}, "refused": {"<p>": "reason"}}}, "resolvers": {"<name>": {"keys": N}}}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/state_store.h"
#include "statefold/source.h"
#include "statefold/status.h"

namespace statefold {

struct RunStatus {
  struct Partition {
    int32_t partition = 0;
    int64_t next_offset = 0;     // as checkpointed
    std::optional<int64_t> lag;  // records behind the partition's end; empty when unknown
  };
  struct Source {
    std::string name;
    uint64_t skipped_late = 0;  // records older than the late-arrival deadline
    std::vector<Partition> partitions;
    std::vector<RefusedPartition> refused;  // assigned, not read here (Source::Refused)
  };
  struct Resolver {
    std::string name;
    uint64_t keys = 0;  // keys with committed state
  };

  int64_t updated_ms = 0;  // wall-clock time of the checkpoint that stored the record
  int64_t started_ms = 0;  // wall-clock time the run started
  // Counters of the run (RunStats), as of the checkpoint, which is counted.
  uint64_t messages = 0;
  uint64_t outputs = 0;
  uint64_t resolver_errors = 0;
  uint64_t dead_letters = 0;
  uint64_t checkpoints = 0;
  double last_checkpoint_commit_ms = 0;  // of the checkpoint before this one
  std::vector<Source> sources;
  std::vector<Resolver> resolvers;

  std::string ToJson() const;
  // Reads a record written by ToJson. Members that are absent keep their defaults (a record
  // from an older statefold); Corruption when the text is not JSON or a member has the
  // wrong type.
  static Status Parse(std::string_view json, RunStatus* status);

  // Stages this record into a checkpoint.
  void Stage(CheckpointBatch* batch) const;
  // Reads the record of the last checkpoint in `store`; NotFound before the first one.
  static Status Read(StateStore* store, RunStatus* status);
};

}  // namespace statefold
