// The engine loop. See include/statefold/engine.h for the contract.
//
// Inside a checkpoint interval ("epoch") the engine keeps every message it has read (values
// and keys in one arena) and, per resolver, the epoch messages of each key. That log is what
// makes failures cheap to undo: a failing resolver call rolls back only its own key, by
// reloading the key's committed state and replaying the key's earlier epoch messages. The
// happy path pays nothing for it: no per-message snapshot, copy or serialization.

#include "statefold/engine.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "decode/event_decoder.h"
#include "decode/record_decoder.h"
#include "decode/value_slots.h"
#include "engine/key_map.h"
#include "online/online_store.h"
#include "state/run_status.h"
#include "state/state_layout.h"
#include "state/state_store.h"
#include "statefold/internal/prefetch.h"
#include "statefold/json_text.h"
#include "statefold/source.h"
#include "statefold/state_codec.h"
#include "util/string_hash.h"

namespace statefold {
namespace {

struct PendingEntity;

struct CacheEntry {
  StateHandle state = nullptr;
  bool dirty = false;  // changed since the last checkpoint
  bool in_dirty_list = false;
  bool committed = false;  // the store holds a state for this key
  uint64_t last_used_epoch = 0;
  // The pending outputs of the entity this key last wrote, valid in epoch `pending_epoch`:
  // outputs usually go to the key's own entity, and this saves a hash lookup per message.
  PendingEntity* pending = nullptr;
  uint64_t pending_epoch = 0;
};

using StateCache = KeyMap<CacheEntry>;

// A message read in the current epoch (48 bytes). Its value, key and headers follow each
// other in Engine::Impl::epoch_bytes_, from `value_begin`.
struct EpochMessage {
  uint32_t source_index;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
  uint64_t value_begin;
  uint32_t value_size;
  uint32_t key_size;
  uint32_t headers_size;
  int32_t value_slots : 31;  // index into Impl::value_slots_ while its batch runs, or -1
  uint32_t has_key : 1;

  uint64_t key_begin() const { return value_begin + value_size; }
  uint64_t headers_begin() const { return key_begin() + key_size; }
};
static_assert(sizeof(EpochMessage) == 48);

// One epoch message as routed to one resolver, with the key that resolver uses.
struct KeyRef {
  uint32_t epoch_index;
  uint32_t key_size;
  uint64_t key_begin;
};

// A message of the batch being run, beside what the resolver sees of it.
struct BatchItem {
  CacheEntry* entry;       // its key's live state (nullptr for stateless resolvers)
  const std::string* key;  // the cache's copy of the key (nullptr for stateless resolvers)
  uint32_t epoch_index;
};

struct ResolverSlot {
  Resolver* resolver = nullptr;
  const ResolverSpec* spec = nullptr;
  uint32_t source_index = 0;
  uint32_t schema_version = 1;
  bool schema_pending = false;  // the schema is stored with the next checkpoint
  uint64_t keys = 0;            // committed keys
  bool keys_changed = false;
  StateCache cache;
  std::vector<std::pair<const std::string*, CacheEntry*>> dirty;
  std::vector<KeyRef> epoch_keys;     // in epoch order
  std::unordered_set<uint32_t> dead;  // epoch indexes dead-lettered for this resolver
  // With an event layout (ResolverSpec::event_layout): decodes each message before its lookup.
  std::unique_ptr<EventDecoder> event_decoder;

  // Reused per batch.
  std::vector<uint64_t> hashes;          // of the batch's keys, in the cache's hash
  std::vector<EventInput> event_inputs;  // the batch's keys' messages, for the event decoder
  std::vector<std::span<const FieldValue>> event_fields;  // what they decoded into
  std::vector<DecodeFailure> event_failures;
  std::vector<Message> messages;
  std::vector<StateHandle> states;
  std::vector<BatchItem> items;  // what the engine keeps of each message
  std::vector<char> skipped;
  ResolverOutput output;
};

// A feature value waiting for the next checkpoint, and the entity that holds it.
struct PendingValue {
  std::string_view feature;  // owned by the resolver (ResolverOutput::StartEntity)
  std::string value_json;
  uint64_t order;  // epoch index (time and offset are the message's): a replay never lets
                   // an older message overwrite a newer value
};

struct PendingEntity {
  uint32_t ns_size;               // the map key is "<namespace>\0<entity id>"
  const char* ns_data = nullptr;  // as the resolver passed it: usually the same pointer again
  const std::string* key = nullptr;
  std::vector<PendingValue> values;

  [[gnu::always_inline]] bool Is(std::string_view ns, std::string_view entity) const {
    const char* k = key->data();
    return ns.size() == ns_size && key->size() == ns.size() + 1 + entity.size() &&
           ShortBytesEqual(std::string_view(k + ns_size + 1, entity.size()), entity) &&
           (ns.data() == ns_data || std::memcmp(k, ns.data(), ns.size()) == 0);
  }
};

// A dead letter waiting for the next checkpoint. Dead letters are stored in (source,
// partition, offset, resolver) order, so their sequence does not depend on where batches and
// checkpoints happened to fall.
struct PendingDeadLetter {
  uint32_t source_index;
  int32_t partition;
  int64_t offset;
  int64_t resolver_order;   // -1 for records that did not decode
  std::string record_json;  // for the state directory's dead-letter store
  DeadLetter letter;        // for a source that publishes its dead letters itself

  bool operator<(const PendingDeadLetter& o) const {
    return std::tie(source_index, partition, offset, resolver_order) <
           std::tie(o.source_index, o.partition, o.offset, o.resolver_order);
  }
};

// The epoch log's bytes reach at most this before a checkpoint is due.
constexpr uint64_t kEpochBytesLimit = uint64_t{256} << 20;

// Bytes appended back to back, addressed by offset: std::string::append is an out-of-line
// call, and this is three appends per message. The buffer is allocated once at the epoch
// limit (untouched memory costs nothing until written) and grows only past it, for a
// message larger than that.
class ByteArena {
 public:
  const char* data() const { return data_.get(); }
  uint64_t size() const { return size_; }
  // Appends `bytes` and returns their offset.
  uint64_t Append(std::string_view bytes) {
    const uint64_t at = size_;
    if (bytes.size() > capacity_ - size_) Grow(bytes.size());
    short_bytes::Copy(data_.get() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
    return at;
  }
  void Clear() { size_ = 0; }  // keeps the buffer

 private:
  void Grow(size_t more) {
    capacity_ = std::max<uint64_t>({capacity_ * 2, size_ + more, kEpochBytesLimit});
    std::unique_ptr<char[]> grown(new char[capacity_]);  // not initialized: not touched
    if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
  }

  std::unique_ptr<char[]> data_;
  uint64_t size_ = 0;
  uint64_t capacity_ = 0;
};

// Messages per resolver call (see RunResolver).
constexpr size_t kResolverChunk = 256;
// How many messages ahead of their outputs their pending values are prefetched.
constexpr size_t kPendingAhead = 16;

int64_t WallClockMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Engine::Impl {
 public:
  explicit Impl(const EngineOptions& options)
      : options_(options), decoder_(options.max_message_bytes) {}

  Status Open() {
    StateStore::Options store_options;
    store_options.sync = options_.sync;
    STATEFOLD_RETURN_IF_ERROR(StateStore::Open(options_.state_dir, store_options, &store_));
    return OpenOnlineStore({options_.online_store, options_.should_stop}, store_.get(), &online_);
  }

  ~Impl() {
    for (ResolverSlot& r : resolvers_) {
      r.cache.ForEach([&r](StateCache::Node* node) {
        if (node->value.state != nullptr) r.resolver->ReleaseState(node->value.state);
      });
    }
  }

  void AddSource(std::unique_ptr<Source> source) { sources_.push_back(std::move(source)); }

  void AddResolver(Resolver* resolver) {
    resolvers_.emplace_back();
    resolvers_.back().resolver = resolver;
    resolvers_.back().spec = &resolver->spec();
  }

  Status Run(RunStats* stats) {
    *stats = RunStats();
    stats_ = stats;
    auto started = std::chrono::steady_clock::now();
    run_started_ms_ = WallClockMillis();
    STATEFOLD_RETURN_IF_ERROR(Prepare());
    // An epoch's logs at their usual size, reserved (not touched) now rather than grown by
    // copying while the first epoch runs. A checkpoint falls due after a batch, so an epoch
    // may run up to one batch per source past its message count.
    const size_t epoch_messages = std::min<size_t>(
        options_.checkpoint_every_messages + options_.batch_size * sources_.size(), 1 << 22);
    epoch_.reserve(epoch_messages);
    for (ResolverSlot& r : resolvers_) r.epoch_keys.reserve(epoch_messages);
    last_checkpoint_ = std::chrono::steady_clock::now();
    std::vector<RawRecord> records;
    bool all_at_end = false;
    while (!all_at_end) {
      all_at_end = true;
      for (uint32_t s = 0; s < sources_.size(); ++s) {
        Source& source = *sources_[s];
        if (source.AtEnd()) continue;
        all_at_end = false;
        STATEFOLD_RETURN_IF_ERROR(source.Poll(options_.batch_size, &records));
        if (!records.empty()) STATEFOLD_RETURN_IF_ERROR(ProcessBatch(s, records));
        // Also on an idle stream, so that what was read is committed within the interval.
        if (CheckpointDue()) STATEFOLD_RETURN_IF_ERROR(Checkpoint());
      }
      if (options_.should_stop && options_.should_stop()) {
        stats->interrupted = true;
        break;
      }
    }
    STATEFOLD_RETURN_IF_ERROR(Checkpoint());
    for (const ResolverSlot& r : resolvers_) stats->keys += r.keys;
    stats->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return Status::Ok();
  }

 private:
  Status Prepare() {
    for (ResolverSlot& r : resolvers_) {
      const ResolverSpec& spec = *r.spec;
      bool found_source = false;
      for (uint32_t s = 0; s < sources_.size(); ++s) {
        if (sources_[s]->name() == spec.source) {
          r.source_index = s;
          found_source = true;
        }
      }
      if (!found_source) {
        return Status::InvalidArgument("resolver " + spec.name + " reads source '" + spec.source +
                                       "', which has no input");
      }
      if (spec.event_layout != nullptr) {
        r.event_decoder = std::make_unique<EventDecoder>(*spec.event_layout);
      }
      std::string value;
      bool found;
      STATEFOLD_RETURN_IF_ERROR(
          store_->GetMeta(state_layout::KeyCountKey(spec.name), &value, &found));
      r.keys = found ? std::stoull(value) : 0;
      if (!spec.stateful) continue;
      STATEFOLD_RETURN_IF_ERROR(
          store_->GetMeta(state_layout::SchemaKey(spec.name), &value, &found));
      if (!found) {
        r.schema_pending = true;
      } else if (value != spec.state_schema) {
        if (r.keys > 0) {
          return Status::InvalidArgument(
              "the state schema of resolver " + spec.name + " changed since its " +
              std::to_string(r.keys) +
              " stored states were written, and statefold does not migrate state yet: "
              "reset it with `statefold state reset " +
              spec.name + "` or use a new resolver name");
        }
        r.schema_pending = true;
      }
    }
    for (auto& source : sources_) {
      std::vector<SourcePosition> positions;
      STATEFOLD_RETURN_IF_ERROR(store_->GetPositions(source->name(), &positions));
      STATEFOLD_RETURN_IF_ERROR(source->Seek(positions));
    }
    std::string value;
    bool found;
    STATEFOLD_RETURN_IF_ERROR(store_->GetMeta(state_layout::kNextDeadLetterKey, &value, &found));
    next_dead_letter_ = found ? std::stoull(value) : 0;
    return Status::Ok();
  }

  bool CheckpointDue() const {
    if (messages_since_checkpoint_ == 0) return false;
    return messages_since_checkpoint_ >= options_.checkpoint_every_messages ||
           epoch_bytes_.size() >= kEpochBytesLimit ||
           std::chrono::steady_clock::now() - last_checkpoint_ >=
               std::chrono::milliseconds(options_.checkpoint_every_ms);
  }

  std::string_view Bytes(uint64_t begin, uint32_t size) const {
    return std::string_view(epoch_bytes_.data() + begin, size);  // REQUIRES: in range
  }

  // The message of an epoch entry as its resolver sees it (views into the epoch arena).
  Message MessageAt(const KeyRef& ref) const {
    const EpochMessage& m = epoch_[ref.epoch_index];
    Message message;
    message.key = Bytes(ref.key_begin, ref.key_size);
    message.value = Bytes(m.value_begin, m.value_size);
    message.timestamp_ms = m.timestamp_ms;
    message.offset = m.offset;
    message.partition = m.partition;
    message.headers = Bytes(m.headers_begin(), m.headers_size);
    return message;
  }

  Status ProcessBatch(uint32_t source_index, const std::vector<RawRecord>& records) {
    uint32_t first = static_cast<uint32_t>(epoch_.size());
    value_slots_.clear();
    slot_values_.clear();
    // Room for every slot of the batch, so that ValueSlots::values stay put.
    slot_values_.reserve(records.size() * small_json::JsonShape::kMaxSlots);
    int64_t now_ms = 0;
    decoder_.StartBatch(records);
    size_t k;
    DecodedRecord decoded;
    Status status;
    while (decoder_.Next(&k, &decoded, &status)) {
      const RawRecord& record = records[k];
      if (!status.ok() && record.unterminated) {
        sources_[source_index]->DeferIncomplete(record);  // maybe still being written
        break;
      }
      ++stats_->messages;
      ++messages_since_checkpoint_;
      if (!status.ok()) {
        AddRawDeadLetter(source_index, record, status.message());
        continue;
      }
      EpochMessage m;
      m.source_index = source_index;
      m.partition = record.partition;
      m.offset = record.offset;
      if (decoded.has_timestamp) {
        m.timestamp_ms = decoded.timestamp_ms;
      } else {
        if (now_ms == 0) now_ms = WallClockMillis();
        m.timestamp_ms = now_ms;
      }
      m.value_begin = epoch_bytes_.Append(decoded.value);
      m.value_size = static_cast<uint32_t>(decoded.value.size());
      m.has_key = decoded.has_key;
      epoch_bytes_.Append(decoded.key);
      m.key_size = static_cast<uint32_t>(decoded.key.size());
      if (!decoded.headers.empty()) epoch_bytes_.Append(decoded.headers);
      m.headers_size = static_cast<uint32_t>(decoded.headers.size());
      m.value_slots = -1;
      if (decoded.shape != nullptr) {
        // Views into the batch's records, which outlive this call.
        m.value_slots = static_cast<int32_t>(value_slots_.size());
        value_slots_.push_back({decoded.shape->id(), decoded.shape, decoded.value_member,
                                slot_values_.data() + slot_values_.size()});
        for (size_t i = 0; i < decoded.shape->slot_count(); ++i) {
          slot_values_.push_back(decoded.slot_values[i]);  // within the reserved room
        }
      }
      epoch_.push_back(m);
    }
    uint32_t end = static_cast<uint32_t>(epoch_.size());
    for (ResolverSlot& r : resolvers_) {
      if (r.source_index != source_index) continue;
      STATEFOLD_RETURN_IF_ERROR(RunResolver(r, first, end));
    }
    return Status::Ok();
  }

  // Routes epoch messages [first, end) to `r`: finds each key, its live state, runs the
  // resolver in batches, and rolls back a key whose call failed.
  Status RunResolver(ResolverSlot& r, uint32_t first, uint32_t end) {
    const ResolverSpec& spec = *r.spec;
    // Pass 1: keys (appending to the arena, so views are only taken in pass 2).
    const size_t batch_keys = r.epoch_keys.size();  // the batch's keys follow
    for (uint32_t i = first; i < end; ++i) {
      const EpochMessage& m = epoch_[i];
      KeyRef ref{i, m.key_size, m.key_begin()};
      if (!spec.key_path.empty()) {
        std::string_view value = Bytes(m.value_begin, m.value_size);
        Status status = decoder_.ExtractKey(value, spec.key_path, &key_scratch_);
        if (!status.ok()) {
          AddDeadLetter(r, i, std::string(), status.message());
          continue;
        }
        ref.key_begin = epoch_bytes_.Append(key_scratch_);
        ref.key_size = static_cast<uint32_t>(key_scratch_.size());
      } else if (!m.has_key && spec.stateful) {
        AddDeadLetter(r, i, std::string(),
                      "message has no key, and resolver " + spec.name +
                          " has no keys= naming a message field to key its state by");
        continue;
      }
      r.epoch_keys.push_back(ref);
    }
    // Events, once pass 1 can no longer move the epoch arena (their views point into it): a
    // message that does not decode is a dead letter, and the resolver never sees it.
    if (r.event_decoder != nullptr) DecodeEvents(r, batch_keys);
    // Pass 2: messages and live states.
    r.messages.clear();
    r.states.clear();
    r.items.clear();
    const std::span<const KeyRef> keys(r.epoch_keys.data() + batch_keys,
                                       r.epoch_keys.size() - batch_keys);
    if (spec.stateful) {
      // Hash every key and prefetch its slot, then its node, so that the batch's cache
      // misses overlap instead of coming one after another.
      r.hashes.clear();
      for (const KeyRef& ref : keys) {
        r.hashes.push_back(StateCache::Hash(Bytes(ref.key_begin, ref.key_size)));
        r.cache.Prefetch(r.hashes.back());
      }
      for (uint64_t hash : r.hashes) r.cache.PrefetchNode(hash);
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      const KeyRef& ref = keys[k];
      Message message = MessageAt(ref);
      if (r.event_decoder != nullptr) message.fields = r.event_fields[k];
      r.messages.push_back(message);
      if (spec.stateful) {
        Status status;  // set only on failure: no Status made and destroyed per message
        StateCache::Node* node = Lookup(r, message.key, r.hashes[k], &status);
        if (node == nullptr) return status;
        CacheEntry* entry = &node->value;
        PrefetchLine(entry->state);  // the resolver reads it next
        if (entry->pending_epoch == epoch_number_) {
          // The entity and, just before it in the same map node, its key.
          PrefetchLine(entry->pending);
          PrefetchLine(reinterpret_cast<const char*>(entry->pending) - sizeof(std::string));
        }
        r.items.push_back({entry, &node->key, ref.epoch_index});
        r.states.push_back(entry->state);
      } else {
        r.items.push_back({nullptr, nullptr, ref.epoch_index});
        r.states.push_back(nullptr);
      }
    }
    size_t n = r.messages.size();
    r.skipped.assign(n, 0);
    size_t start = 0;
    while (start < n) {
      // The resolver runs on chunks of the batch, so that the outputs of a chunk are added
      // while its states and pending entities are still in cache.
      size_t count = std::min(n - start, kResolverChunk);
      r.output.Clear();
      std::span<const Message> messages(r.messages.data() + start, count);
      std::span<const StateHandle> states(r.states.data() + start, count);
      size_t consumed = r.resolver->RunBatch(messages, states, &r.output);
      if (r.output.interrupted())
        return Status::Aborted("resolver " + spec.name + " was interrupted");
      if (consumed == 0 || consumed > count) {
        return Status::InvalidArgument("resolver " + spec.name + " consumed " +
                                       std::to_string(consumed) + " of " + std::to_string(count) +
                                       " messages");
      }
      for (const ResolverOutput::Rejection& rejection : r.output.rejections()) {
        size_t j = start + rejection.index;
        r.skipped[j] = 1;
        AddDeadLetter(r, r.items[j].epoch_index, r.messages[j].key, rejection.reason);
      }
      size_t failed = r.output.failed() ? start + r.output.failed_index() : n;
      if (failed < n) r.skipped[failed] = 1;
      AddOutputs(r, start, failed);
      for (size_t j = start; j < start + consumed; ++j) {
        if (!r.skipped[j] && spec.stateful) MarkDirty(r, r.items[j].entry, r.items[j].key);
      }
      if (failed < n) {
        ++stats_->resolver_errors;
        const BatchItem& item = r.items[failed];
        AddDeadLetter(r, item.epoch_index, r.messages[failed].key, r.output.failure());
        CacheEntry* entry = item.entry;
        if (spec.stateful) {
          STATEFOLD_RETURN_IF_ERROR(RecoverKey(r, entry, *item.key, item.epoch_index, false));
          for (size_t j = failed + 1; j < n; ++j) {
            if (r.items[j].entry == entry) r.states[j] = entry->state;
          }
        }
      }
      start += consumed;
    }
    return Status::Ok();
  }

  // Decodes the events of the batch's keys (from r.epoch_keys[first]) into r.event_fields,
  // and drops the keys of those that do not decode, dead-lettered. The records' value slots
  // spare a second scan of the values.
  void DecodeEvents(ResolverSlot& r, size_t first) {
    r.event_inputs.clear();
    for (size_t k = first; k < r.epoch_keys.size(); ++k) {
      const EpochMessage& m = epoch_[r.epoch_keys[k].epoch_index];
      r.event_inputs.push_back(
          {Bytes(m.value_begin, m.value_size),
           m.value_slots >= 0 ? &value_slots_[static_cast<size_t>(m.value_slots)] : nullptr});
    }
    r.event_decoder->DecodeBatch(r.event_inputs, &r.event_fields, &r.event_failures);
    if (r.event_failures.empty()) return;
    size_t kept = 0, failure = 0;
    for (size_t i = 0; i < r.event_fields.size(); ++i) {
      const KeyRef ref = r.epoch_keys[first + i];
      if (failure < r.event_failures.size() && r.event_failures[failure].index == i) {
        AddDeadLetter(r, ref.epoch_index, Bytes(ref.key_begin, ref.key_size),
                      r.event_failures[failure++].status.message());
        continue;
      }
      r.epoch_keys[first + kept] = ref;
      r.event_fields[kept++] = r.event_fields[i];
    }
    r.epoch_keys.resize(first + kept);
  }

  // Adds the feature values of a resolver call's output; `base` is the batch index of the
  // output's first message, and writes of message `failed` (a batch index) are dropped.
  void AddOutputs(ResolverSlot& r, size_t base, size_t failed) {
    const ResolverOutput& out = r.output;
    int64_t counted = -1;
    const ResolverOutput::OutputValue* previous = nullptr;
    const size_t end = std::min(r.items.size(), base + kResolverChunk);
    for (size_t j = base; j < std::min(end, base + kPendingAhead); ++j) PrefetchPending(r, j);
    for (const ResolverOutput::OutputValue& w : out.writes()) {
      size_t j = base + w.message_index;
      if (j == failed) continue;
      if (static_cast<int64_t>(j) != counted) {
        ++stats_->outputs;
        counted = static_cast<int64_t>(j);
        if (j + kPendingAhead < end) PrefetchPending(r, j + kPendingAhead);
      }
      AddPending(w, out, SameEntity(previous, w), r.items[j].epoch_index, r.items[j].entry);
      previous = &w;
    }
  }

  // Prefetches the pending values of batch message j's entity (the entity that its key
  // wrote last; its PendingEntity was prefetched with the lookup).
  void PrefetchPending(const ResolverSlot& r, size_t j) const {
    const CacheEntry* entry = r.items[j].entry;
    if (entry == nullptr || entry->pending_epoch != epoch_number_) return;
    const char* values = reinterpret_cast<const char*>(entry->pending->values.data());
    const size_t bytes = entry->pending->values.size() * sizeof(PendingValue);
    for (size_t at = 0; at < bytes; at += 64) PrefetchLine(values + at);
  }

  // Whether write `w` is for the entity of the write before it in the same output, by
  // construction (one StartEntity), so its entity need not be compared again.
  static bool SameEntity(const ResolverOutput::OutputValue* previous,
                         const ResolverOutput::OutputValue& w) {
    return previous != nullptr && previous->entity_begin == w.entity_begin &&
           previous->entity_size == w.entity_size && previous->ns.data() == w.ns.data();
  }

  // Records a feature value for the next checkpoint. `entry` is the state of the message's
  // key (nullptr for stateless resolvers), used as a hint to find the entity; `order` is the
  // message's epoch index.
  // `same_entity`: the entity is that of the previous call's write (see SameEntity).
  void AddPending(const ResolverOutput::OutputValue& w, const ResolverOutput& out, bool same_entity,
                  uint64_t order, CacheEntry* entry) {
    std::string_view ns = w.ns, feature = w.feature;
    std::string_view entity = out.View(w.entity_begin, w.entity_size);
    std::string_view value_json = out.View(w.value_begin, w.value_size);
    // The features of one output share an entity: look it up once for all of them.
    if (!same_entity && (last_entity_ == nullptr || !last_entity_->Is(ns, entity))) {
      if (entry != nullptr && entry->pending_epoch == epoch_number_ &&
          entry->pending->Is(ns, entity)) {
        last_entity_ = entry->pending;
      } else {
        pending_key_.assign(ns).push_back('\0');
        pending_key_.append(entity);
        auto it = pending_.find(std::string_view(pending_key_));
        if (it == pending_.end()) {
          it = pending_
                   .emplace(pending_key_,
                            PendingEntity{static_cast<uint32_t>(ns.size()), ns.data(), nullptr, {}})
                   .first;
          it->second.key = &it->first;
        }
        last_entity_ = &it->second;
        if (entry != nullptr) {
          entry->pending = last_entity_;
          entry->pending_epoch = epoch_number_;
        }
      }
    }
    PendingValue* value = nullptr;
    for (PendingValue& v : last_entity_->values) {
      if (v.feature.data() == feature.data() || v.feature == feature) {
        if (v.order > order) return;  // a replayed older message never overwrites a newer value
        value = &v;
        break;
      }
    }
    if (value == nullptr) {
      value = &last_entity_->values.emplace_back();
      value->feature = feature;
    }
    if (value->value_json.size() == value_json.size()) {  // often: a count of as many digits
      short_bytes::Copy(value->value_json.data(), value_json.data(), value_json.size());
    } else {
      value->value_json.assign(value_json);
    }
    value->order = order;
  }

  void MarkDirty(ResolverSlot& r, CacheEntry* entry, const std::string* key) {
    entry->dirty = true;
    if (!entry->in_dirty_list) {
      entry->in_dirty_list = true;
      r.dirty.emplace_back(key, entry);
    }
  }

  // The cache node of `key` (hash `hash`), loading its committed or initial state when the
  // key is not in the cache; nullptr with *status set when that fails.
  StateCache::Node* Lookup(ResolverSlot& r, std::string_view key, uint64_t hash, Status* status) {
    StateCache::Node* node = r.cache.Find(key, hash);
    if (node == nullptr) {
      node = r.cache.Insert(key);
      *status = LoadCommitted(r, key, &node->value);
      if (!status->ok()) {
        r.cache.Erase(node);
        return nullptr;
      }
    }
    node->value.last_used_epoch = epoch_number_;
    return node;
  }

  // Sets entry->state to the committed state of `key`, or to a new initial state.
  Status LoadCommitted(ResolverSlot& r, std::string_view key, CacheEntry* entry) {
    bool found = false;
    // Until a checkpoint commits the resolver's first state, there is none to look up.
    if (r.keys > 0) {
      STATEFOLD_RETURN_IF_ERROR(store_->GetState(r.spec->name, key, &stored_scratch_, &found));
    }
    entry->committed = found;
    if (!found) {
      return r.resolver->NewState(&entry->state);
    }
    uint32_t version;
    std::string_view payload;
    STATEFOLD_RETURN_IF_ERROR(ParseStateHeader(stored_scratch_, &version, &payload)
                                  .WithContext("state of key " + std::string(key)));
    if (version != r.schema_version) {
      return Status::Corruption("state of key " + std::string(key) + " of resolver " +
                                r.spec->name + " has schema version " + std::to_string(version) +
                                ", expected " + std::to_string(r.schema_version));
    }
    return r.resolver->DecodeState(payload, &entry->state)
        .WithContext("resolver " + r.spec->name + ", key " + std::string(key));
  }

  // Rebuilds the live state of `key`: its committed state, then its epoch messages before
  // epoch index `limit` that are not dead letters. With `validate`, the state is encoded
  // after each replayed message, and a message that leaves it not fitting the schema is
  // dead-lettered. A message that fails during replay is dead-lettered and replay restarts.
  Status RecoverKey(ResolverSlot& r, CacheEntry* entry, const std::string& key, uint32_t limit,
                    bool validate) {
    std::vector<Message> replay;
    std::vector<uint32_t> replay_indexes;
    std::vector<StateHandle> states;
    ResolverOutput output;
    std::string encoded;
    // Its own decoder: the batch's decoded messages must stay valid while this runs.
    std::unique_ptr<EventDecoder> decoder;
    std::vector<EventInput> inputs;
    std::vector<std::span<const FieldValue>> fields;
    std::vector<DecodeFailure> failures;
    if (r.spec->event_layout != nullptr) {
      decoder = std::make_unique<EventDecoder>(*r.spec->event_layout);
    }
    for (;;) {
      r.resolver->ReleaseState(entry->state);
      entry->state = nullptr;
      STATEFOLD_RETURN_IF_ERROR(LoadCommitted(r, key, entry));
      replay.clear();
      replay_indexes.clear();
      for (const KeyRef& ref : r.epoch_keys) {
        if (ref.epoch_index >= limit) break;
        if (Bytes(ref.key_begin, ref.key_size) != key || r.dead.count(ref.epoch_index)) continue;
        replay.push_back(MessageAt(ref));
        replay_indexes.push_back(ref.epoch_index);
      }
      if (decoder != nullptr) {
        inputs.clear();
        for (const Message& message : replay) inputs.push_back({message.value, nullptr});
        decoder->DecodeBatch(inputs, &fields, &failures);
        // They decoded before: a failure here would mean that the decoders disagree.
        for (const DecodeFailure& failure : failures) {
          AddDeadLetter(r, replay_indexes[failure.index], key, failure.status.message());
        }
        size_t kept = 0, failure = 0;
        for (size_t j = 0; j < replay.size(); ++j) {
          if (failure < failures.size() && failures[failure].index == j) {
            ++failure;
            continue;
          }
          replay[kept] = replay[j];
          replay[kept].fields = fields[j];
          replay_indexes[kept++] = replay_indexes[j];
        }
        replay.resize(kept);
        replay_indexes.resize(kept);
      }
      bool restart = false;
      size_t step = validate ? 1 : replay.size();
      for (size_t start = 0; start < replay.size() && !restart;) {
        size_t count = std::min(step, replay.size() - start);
        states.assign(count, entry->state);
        output.Clear();
        size_t consumed = r.resolver->RunBatch(
            std::span<const Message>(replay.data() + start, count), states, &output);
        if (output.interrupted()) {
          return Status::Aborted("resolver " + r.spec->name + " was interrupted");
        }
        for (const ResolverOutput::Rejection& rejection : output.rejections()) {
          size_t j = start + rejection.index;
          AddDeadLetter(r, replay_indexes[j], key, rejection.reason);
          restart = true;
        }
        if (output.failed()) {
          size_t j = start + output.failed_index();
          AddDeadLetter(r, replay_indexes[j], key, output.failure());
          restart = true;
        }
        if (!restart && validate) {
          encoded.clear();
          Status status = r.resolver->EncodeState(entry->state, &encoded);
          if (!status.ok()) {
            AddDeadLetter(r, replay_indexes[start], key,
                          "the resolver left the state in a shape its schema cannot store: " +
                              status.message());
            restart = true;
          }
        }
        if (!restart) {
          const ResolverOutput::OutputValue* previous = nullptr;
          for (const ResolverOutput::OutputValue& w : output.writes()) {
            size_t j = start + w.message_index;
            AddPending(w, output, SameEntity(previous, w), replay_indexes[j], entry);
            previous = &w;
          }
        }
        start += consumed;
      }
      if (restart) continue;
      entry->dirty = !replay.empty();
      return Status::Ok();
    }
  }

  void AddRawDeadLetter(uint32_t source_index, const RawRecord& record, const std::string& reason) {
    std::string json = "{\"source\":";
    AppendJsonString(sources_[source_index]->name(), &json);
    json += ",\"partition\":" + std::to_string(record.partition) +
            ",\"offset\":" + std::to_string(record.offset) + ",\"resolver\":null,\"error\":";
    AppendJsonString(reason, &json);
    if (simdjson::validate_utf8(record.bytes.data(), record.bytes.size())) {
      json += ",\"message\":";
      AppendJsonString(record.bytes.substr(0, 4096), &json);
    } else {
      json += ",\"message\":null";
    }
    json += "}";
    DeadLetter letter;
    if (sources_[source_index]->PublishesDeadLetters()) {
      letter.partition = record.partition;
      letter.offset = record.offset;
      letter.has_key = record.has_key;
      letter.key.assign(record.enveloped ? std::string_view() : record.key);
      letter.value.assign(record.enveloped ? record.bytes : record.value);
      letter.timestamp_ms = record.timestamp_ms;
      letter.error = reason;
    }
    pending_dead_letters_.push_back(PendingDeadLetter{source_index, record.partition, record.offset,
                                                      -1, std::move(json), std::move(letter)});
    ++stats_->dead_letters;
  }

  void AddDeadLetter(ResolverSlot& r, uint32_t epoch_index, std::string_view key,
                     const std::string& reason) {
    r.dead.insert(epoch_index);
    const EpochMessage& m = epoch_[epoch_index];
    std::string json = "{\"source\":";
    AppendJsonString(sources_[m.source_index]->name(), &json);
    json += ",\"partition\":" + std::to_string(m.partition) +
            ",\"offset\":" + std::to_string(m.offset) + ",\"resolver\":";
    AppendJsonString(r.spec->name, &json);
    json += ",\"key\":";
    if (!key.empty()) {
      AppendJsonString(key, &json);
    } else if (m.has_key) {
      AppendJsonString(Bytes(m.key_begin(), m.key_size), &json);
    } else {
      json += "null";
    }
    json += ",\"timestamp\":" + std::to_string(m.timestamp_ms) + ",\"error\":";
    AppendJsonString(reason, &json);
    json += ",\"value\":";
    AppendJsonString(Bytes(m.value_begin, m.value_size), &json);
    json += "}";
    DeadLetter letter;
    if (sources_[m.source_index]->PublishesDeadLetters()) {
      letter.partition = m.partition;
      letter.offset = m.offset;
      letter.resolver = r.spec->name;
      letter.has_key = m.has_key;
      letter.key.assign(Bytes(m.key_begin(), m.key_size));
      letter.value.assign(Bytes(m.value_begin, m.value_size));
      letter.timestamp_ms = m.timestamp_ms;
      letter.error = reason;
    }
    pending_dead_letters_.push_back(PendingDeadLetter{m.source_index, m.partition, m.offset,
                                                      &r - resolvers_.data(), std::move(json),
                                                      std::move(letter)});
    ++stats_->dead_letters;
  }

  Status Checkpoint() {
    CheckpointBatch batch(store_.get());
    for (ResolverSlot& r : resolvers_) {
      const std::string& name = r.spec->name;
      if (r.schema_pending) {
        batch.PutMeta(state_layout::SchemaKey(name), r.spec->state_schema);
        r.schema_pending = false;
      }
      // Sorted, because RocksDB's memtable inserts keys in order far faster than at random.
      std::sort(r.dirty.begin(), r.dirty.end(),
                [](const auto& a, const auto& b) { return *a.first < *b.first; });
      for (auto& [key, entry] : r.dirty) {
        entry->in_dirty_list = false;
        if (!entry->dirty) continue;
        state_scratch_.clear();
        WriteStateHeader(r.schema_version, &state_scratch_);
        Status status = r.resolver->EncodeState(entry->state, &state_scratch_);
        if (!status.ok()) {
          STATEFOLD_RETURN_IF_ERROR(RecoverKey(r, entry, *key, UINT32_MAX, true));
          if (!entry->dirty) continue;
          state_scratch_.clear();
          WriteStateHeader(r.schema_version, &state_scratch_);
          STATEFOLD_RETURN_IF_ERROR(r.resolver->EncodeState(entry->state, &state_scratch_)
                                        .WithContext("resolver " + name + ", key " + *key));
        }
        batch.PutState(name, *key, state_scratch_);
        entry->dirty = false;
        if (!entry->committed) {
          entry->committed = true;
          ++r.keys;
          r.keys_changed = true;
        }
      }
      r.dirty.clear();
      if (r.keys_changed) {
        batch.PutMeta(state_layout::KeyCountKey(name), std::to_string(r.keys));
        r.keys_changed = false;
      }
    }
    // In key order ("<ns>\0<entity>\0<feature>"): sorting the entities' map keys once is far
    // cheaper than sorting every value, and in-order inserts are cheaper for the store.
    std::vector<PendingEntity*> entities;
    entities.reserve(pending_.size());
    for (auto& [key, entity] : pending_) entities.push_back(&entity);
    std::sort(entities.begin(), entities.end(),
              [](const PendingEntity* a, const PendingEntity* b) { return *a->key < *b->key; });
    std::vector<FeatureValue> writes;
    writes.reserve(pending_.size() * 2);
    for (PendingEntity* entity : entities) {
      std::sort(entity->values.begin(), entity->values.end(),
                [](const PendingValue& a, const PendingValue& b) { return a.feature < b.feature; });
      std::string_view k(*entity->key);
      for (const PendingValue& v : entity->values) {
        FeatureValue w;
        w.ns = k.substr(0, entity->ns_size);
        w.entity_id = k.substr(entity->ns_size + 1);
        w.feature = v.feature;
        w.value_json = v.value_json;
        w.time_ms = epoch_[v.order].timestamp_ms;
        w.offset = epoch_[v.order].offset;
        writes.push_back(w);
      }
    }
    STATEFOLD_RETURN_IF_ERROR(online_->Write(writes, &batch));
    std::stable_sort(pending_dead_letters_.begin(), pending_dead_letters_.end());
    uint64_t first_dead_letter = next_dead_letter_;
    std::vector<std::vector<DeadLetter>> published(sources_.size());
    for (PendingDeadLetter& dead : pending_dead_letters_) {
      if (sources_[dead.source_index]->PublishesDeadLetters()) {
        published[dead.source_index].push_back(std::move(dead.letter));
      } else {
        batch.PutDeadLetter(next_dead_letter_++, dead.record_json);
      }
    }
    // Published before the commit that moves past them: a crash in between publishes them
    // again (at-least-once for dead-letter topics), never loses one.
    for (size_t s = 0; s < sources_.size(); ++s) {
      if (published[s].empty()) continue;
      Status status = sources_[s]->PublishDeadLetters(published[s]);
      if (!status.ok()) {
        next_dead_letter_ = first_dead_letter;
        return status;
      }
    }
    if (next_dead_letter_ != first_dead_letter) {
      batch.PutMeta(state_layout::kNextDeadLetterKey, std::to_string(next_dead_letter_));
    }
    for (auto& source : sources_) batch.PutPositions(source->name(), source->Positions());
    batch.PutMeta(state_layout::kRunStatusKey, CurrentRunStatus().ToJson());
    auto commit_started = std::chrono::steady_clock::now();
    STATEFOLD_RETURN_IF_ERROR(store_->Commit(&batch));
    last_commit_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - commit_started)
            .count();
    ++stats_->checkpoints;
    for (auto& source : sources_) source->Committed(source->Positions());
    if (options_.on_committed_feature) {
      for (const FeatureValue& w : writes) options_.on_committed_feature(w);
    }
    pending_.clear();
    last_entity_ = nullptr;
    pending_dead_letters_.clear();
    epoch_.clear();
    epoch_bytes_.Clear();
    for (ResolverSlot& r : resolvers_) {
      r.epoch_keys.clear();
      r.dead.clear();
      Evict(r);
    }
    messages_since_checkpoint_ = 0;
    last_checkpoint_ = std::chrono::steady_clock::now();
    ++epoch_number_;
    return Status::Ok();
  }

  // The run's metrics as stored with each checkpoint (see EngineOptions).
  RunStatus CurrentRunStatus() const {
    RunStatus status;
    status.updated_ms = WallClockMillis();
    status.started_ms = run_started_ms_;
    status.messages = stats_->messages;
    status.outputs = stats_->outputs;
    status.resolver_errors = stats_->resolver_errors;
    status.dead_letters = stats_->dead_letters;
    status.checkpoints = stats_->checkpoints + 1;  // this one
    status.last_checkpoint_commit_ms = last_commit_ms_;
    for (const auto& source : sources_) {
      RunStatus::Source& s = status.sources.emplace_back();
      s.name = source->name();
      s.skipped_late = source->SkippedLate();
      for (const SourcePosition& p : source->Positions()) {
        int64_t lag = source->Lag(p.partition, p.next_offset);
        s.partitions.push_back(
            {p.partition, p.next_offset, lag < 0 ? std::nullopt : std::optional<int64_t>(lag)});
      }
    }
    for (const ResolverSlot& r : resolvers_) status.resolvers.push_back({r.spec->name, r.keys});
    return status;
  }

  // Keeps the live-state cache within its budget: drops clean entries, least recently used
  // epochs first (all entries are clean right after a checkpoint).
  void Evict(ResolverSlot& r) {
    if (r.cache.size() <= options_.state_cache_entries) return;
    size_t target = options_.state_cache_entries - options_.state_cache_entries / 4;
    std::vector<StateCache::Node*> victims;
    for (int pass = 0; pass < 2 && r.cache.size() > target; ++pass) {
      // Older epochs first; then, if that was not enough, any entry (all are clean now).
      victims.clear();
      size_t keep = r.cache.size();
      r.cache.ForEach([&](StateCache::Node* node) {
        if (keep > target && (pass == 1 || node->value.last_used_epoch < epoch_number_)) {
          victims.push_back(node);
          --keep;
        }
      });
      for (StateCache::Node* node : victims) {
        r.resolver->ReleaseState(node->value.state);
        r.cache.Erase(node);
      }
    }
  }

  EngineOptions options_;
  RecordDecoder decoder_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<OnlineStore> online_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<ResolverSlot> resolvers_;
  RunStats* stats_ = nullptr;

  std::vector<EpochMessage> epoch_;
  ByteArena epoch_bytes_;
  // The value slots of the batch being processed (see ValueSlots), and their values, for the
  // resolvers' event decoders.
  std::vector<ValueSlots> value_slots_;
  std::vector<std::string_view> slot_values_;
  std::unordered_map<std::string, PendingEntity, StringHash, std::equal_to<>> pending_;
  PendingEntity* last_entity_ = nullptr;  // the entity of the previous AddPending
  std::vector<PendingDeadLetter> pending_dead_letters_;
  uint64_t next_dead_letter_ = 0;
  int64_t run_started_ms_ = 0;
  double last_commit_ms_ = 0;  // of the previous checkpoint
  uint64_t epoch_number_ = 1;
  size_t messages_since_checkpoint_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_;

  std::string key_scratch_;
  std::string pending_key_;
  std::string stored_scratch_;
  std::string state_scratch_;
};

Status Engine::Open(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  auto impl = std::make_unique<Impl>(options);
  STATEFOLD_RETURN_IF_ERROR(impl->Open());
  engine->reset(new Engine(std::move(impl)));
  return Status::Ok();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

void Engine::AddSource(std::unique_ptr<Source> source) { impl_->AddSource(std::move(source)); }
void Engine::AddResolver(Resolver* resolver) { impl_->AddResolver(resolver); }
Status Engine::Run(RunStats* stats) { return impl_->Run(stats); }

}  // namespace statefold
