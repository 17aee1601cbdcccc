// Resolver: what the engine calls to turn messages into state updates and feature values.
// Python resolvers (python/_ext) and native C++ resolvers implement this one interface.
//
// The engine owns ordering, state lifetime and commits; a resolver only runs user code.
// Calls come in batches so that a resolver can amortise per-call costs (the GIL, for Python).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "statefold/event_layout.h"
#include "statefold/status.h"

namespace statefold {

// One decoded message as a resolver sees it. Views stay valid for the duration of the call.
struct Message {
  std::string_view key;    // the partition key (message key, or the `keys=` field)
  std::string_view value;  // the payload: JSON text of an object, or a string payload
  int64_t timestamp_ms = 0;
  int64_t offset = 0;  // position in its source partition
  int32_t partition = 0;
  // Kafka record headers, encoded with ByteWriter (statefold/coding.h) as
  // repeated (str name, bool has_value, [str value]). Empty when there are none.
  std::string_view headers;
  // For a resolver with an event layout (ResolverSpec::event_layout): the value's top-level
  // fields in layout order, as the engine decoded them; empty otherwise.
  std::span<const FieldValue> fields;
};

// An opaque live state object owned by a resolver (a PyObject* for Python resolvers).
using StateHandle = void*;

// Collects what a resolver produced for a batch: feature values, and the messages it rejected
// or failed on. Concrete (no virtual calls) so that adding an output costs an append into
// reused buffers. The engine reads it back through its own ResolverOutputReader
// (src/engine/), as LevelDB reads a WriteBatch through WriteBatchInternal.
class ResolverOutput {
 public:
  // Records the feature values that message `index` produced for one entity: StartEntity,
  // then AddValue for each feature. `entity_id` and the values are copied; `ns` and `feature`
  // are not: they must stay valid while the resolver exists (its names are fixed).
  void StartEntity(uint32_t index, std::string_view ns, std::string_view entity_id) {
    entity_index_ = index;
    entity_ns_ = ns;
    entity_begin_ = static_cast<uint32_t>(bytes_.size());
    entity_size_ = static_cast<uint32_t>(entity_id.size());
    bytes_.append(entity_id);
  }
  // Adds one value of the entity of the last StartEntity (REQUIRES: one in this batch):
  // `format(std::string* out)` appends the value's JSON text to *out.
  template <class Format>
  void AddValue(std::string_view feature, Format&& format) {
    OutputValue& v = values_.emplace_back();
    v.message_index = entity_index_;
    v.ns = entity_ns_;
    v.feature = feature;
    v.entity_begin = entity_begin_;
    v.entity_size = entity_size_;
    v.value_begin = static_cast<uint32_t>(bytes_.size());
    format(&bytes_);
    v.value_size = static_cast<uint32_t>(bytes_.size()) - v.value_begin;
  }
  // Records that message `index` did not decode into the event type; the resolver did not
  // run for it, and the batch goes on.
  void Reject(uint32_t index, std::string reason) {
    rejections_.push_back(Rejection{index, std::move(reason)});
  }
  // Records that the resolver raised (or returned an invalid value) for message `index`;
  // RunBatch returns right after it.
  void Fail(uint32_t index, std::string reason) {
    failed_ = true;
    failed_index_ = index;
    failure_ = std::move(reason);
  }
  // Records that the resolver must not go on at message `index` for a reason outside the
  // message (an interrupt): RunBatch returns at once, and the engine ends the run without a
  // checkpoint, so the epoch is redone by the next run.
  void Interrupt(uint32_t index) {
    interrupted_ = true;
    failed_index_ = index;
  }

 private:
  friend class ResolverOutputReader;

  struct OutputValue {
    uint32_t message_index;        // index into the batch
    std::string_view ns, feature;  // owned by the resolver (see StartEntity)
    uint32_t entity_begin, entity_size;
    uint32_t value_begin, value_size;  // the value as JSON text
  };
  struct Rejection {
    uint32_t index;
    std::string reason;
  };

  std::string bytes_;  // entity ids and values, back to back
  std::vector<OutputValue> values_;
  uint32_t entity_index_ = 0;  // of the last StartEntity
  std::string_view entity_ns_;
  uint32_t entity_begin_ = 0, entity_size_ = 0;
  std::vector<Rejection> rejections_;
  bool failed_ = false;
  bool interrupted_ = false;
  uint32_t failed_index_ = 0;
  std::string failure_;
};

struct ResolverSpec {
  std::string name;    // unique among the resolvers of one run
  std::string source;  // name of the source it reads
  std::vector<std::string>
      key_path;  // message field (dotted) that keys the state; empty: message key
  bool stateful = false;
  std::string state_schema;  // the state's schema as JSON (see src/state/state_schema.h)
  // The fields the resolver reads from each message's JSON value; nullptr: it gets the value
  // as it is (Message::value). With a layout, the engine decodes each message before its
  // state lookup, and one that does not fit becomes a dead letter that the resolver never
  // sees. Not owned: it must outlive the resolver (a static table, in practice).
  const EventLayout* event_layout = nullptr;
};

class Resolver {
 public:
  virtual ~Resolver() = default;

  virtual const ResolverSpec& spec() const = 0;

  // Runs the resolver over `messages` in order; states[i] is the live state of messages[i]
  // (nullptr for stateless resolvers); with an event layout, every message has its fields
  // (those that did not decode never get here). Rejected messages are recorded and skipped.
  // Stops right after the first message it failed on (ResolverOutput::Fail or Interrupt) and
  // returns how many messages it consumed, so the engine can roll that key back before the
  // rest of the batch runs.
  virtual size_t RunBatch(std::span<const Message> messages, std::span<const StateHandle> states,
                          ResolverOutput* output) = 0;

  // Sets *state to a fresh initial state for a new key, never shared with another key. Fails
  // only when the resolver cannot build one (out of memory); the engine then stops the run.
  virtual Status NewState(StateHandle* state) = 0;
  // Decodes committed state bytes (written by EncodeState of this schema) into a live object.
  virtual Status DecodeState(std::string_view bytes, StateHandle* state) = 0;
  // Appends the encoding of `state` to `out`. Fails when the state no longer fits its schema.
  virtual Status EncodeState(StateHandle state, std::string* out) = 0;
  virtual void ReleaseState(StateHandle state) = 0;
};

}  // namespace statefold
