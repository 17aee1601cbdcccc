// DeadLetters: the dead letters of the epoch, waiting for its checkpoint. A letter is made
// where the engine gives up on a message (a record that does not decode, a key that cannot be
// read, an event that does not decode, a resolver call that fails) and is committed with the
// checkpoint that moves past the message, so that a crash never loses one nor commits one
// for a message that will be read again. Letters are staged in (source, partition, offset,
// resolver) order, so that their sequence does not depend on where batches and checkpoints
// happened to fall.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/epoch_log.h"
#include "state/state_store.h"
#include "statefold/source.h"
#include "statefold/status.h"

namespace statefold {

class DeadLetters {
 public:
  // Reads the next stored sequence number. The letters of source i go to sources[i]'s own
  // destination when it publishes dead letters, else to the state directory. REQUIRES: the
  // store and the sources outlive this.
  Status Open(StateStore* store, std::vector<Source*> sources);

  // A record of source `source_index` that did not decode.
  void AddRecord(uint32_t source_index, const RawRecord& record, std::string_view reason);
  // Epoch message `message` (of `log`), which resolver number `resolver_index` named
  // `resolver` could not take; `state_key` is the key it keyed the message by (empty when it
  // could not read one).
  void AddMessage(const EpochLog& log, const EpochMessage& message, uint32_t resolver_index,
                  std::string_view resolver, std::string_view state_key, std::string_view reason);

  // Publishes the letters of sources that publish their own (returning once they are durably
  // published: a crash before the checkpoint commits publishes them again, at-least-once) and
  // stages the others into `batch` with the next sequence numbers. On failure the checkpoint
  // must not commit.
  Status Stage(CheckpointBatch* batch);
  // Forgets the staged letters, once the checkpoint committed.
  void Clear() { pending_.clear(); }

  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    uint32_t source_index;
    int64_t resolver_order;  // -1 for records that did not decode
    DeadLetter letter;
  };
  DeadLetter& Add(uint32_t source_index, int64_t resolver_order, std::string_view reason);

  std::vector<Source*> sources_;
  std::vector<Pending> pending_;
  uint64_t next_sequence_ = 0;
};

}  // namespace statefold
