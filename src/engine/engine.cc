// The engine loop (include/statefold/engine.h has the contract). It calls the steps of a
// message's path, each a component in its own file:
//
//   Source::Poll -> RecordDecoder -> EpochLog -> the resolver's key -> EventDecoder
//     -> LiveStateCache -> Resolver::RunBatch -> PendingFeatures, DeadLetters -> Checkpoint
//
// What stays here is the order of those calls, the resolver calls themselves and the failure
// replay: a failing call rolls back only its own key, by reloading the key's committed state
// (or, after an earlier failure of the key in this epoch, the state encoded then) and
// replaying the key's later messages of the epoch from the epoch log. The happy path pays
// nothing for it: no per-message snapshot, copy or serialization.

#include "statefold/engine.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "decode/event_decoder.h"
#include "decode/record_decoder.h"
#include "decode/value_slots.h"
#include "engine/checkpoint.h"
#include "engine/dead_letters.h"
#include "engine/epoch_log.h"
#include "engine/live_state_cache.h"
#include "engine/pending_features.h"
#include "engine/resolver_output_reader.h"
#include "online/online_store.h"
#include "state/run_status.h"
#include "state/state_store.h"
#include "statefold/internal/prefetch.h"
#include "statefold/source.h"

namespace statefold {
namespace {

// Messages per resolver call: the outputs of a chunk are added while its states and pending
// entities are still in cache.
constexpr size_t kResolverChunk = 256;
// How many messages ahead of their outputs their pending values are prefetched.
constexpr size_t kPendingAhead = 16;

int64_t WallClockMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A message of the batch being run, beside what the resolver sees of it.
struct BatchItem {
  LiveStateCache::Node* node;  // its key's live state (nullptr for stateless resolvers)
  uint32_t epoch_index;
};

// One resolver of the run, with what the loop keeps for it.
struct ResolverRun {
  Resolver* resolver = nullptr;
  const ResolverSpec* spec = nullptr;
  uint32_t index = 0;  // among the run's resolvers (orders its dead letters)
  uint32_t source_index = 0;
  std::unique_ptr<LiveStateCache> cache;  // stateless resolvers have one too, always empty
  std::vector<KeyRef> epoch_keys;         // its messages of the epoch, in order, with their keys
  std::unordered_set<uint32_t> dead;      // epoch indexes dead-lettered for this resolver
  // Where the failure replay of a key that already failed in this epoch starts (RecoverKey):
  // its state right after that failure's recovery, encoded, and the position in epoch_keys
  // after the failed message. Each message of a key is thus replayed at most once per epoch
  // by its failures, however many there are. Cleared by the checkpoint.
  struct ReplayBase {
    std::string state;
    size_t position = 0;
    bool applied = false;  // a message was applied over the committed state before it
  };
  std::unordered_map<const LiveStateCache::Node*, ReplayBase> replay_bases;
  std::string replay_scratch;
  // With an event layout (ResolverSpec::event_layout): decodes each message before its lookup.
  std::unique_ptr<EventDecoder> event_decoder;

  // Reused per batch.
  std::vector<uint64_t> hashes;          // of the batch's keys
  std::vector<EventInput> event_inputs;  // the batch's keys' messages, for the event decoder
  std::vector<std::span<const FieldValue>> event_fields;  // what they decoded into
  std::vector<DecodeFailure> event_failures;
  std::vector<Message> messages;
  std::vector<StateHandle> states;
  std::vector<BatchItem> items;
  std::vector<char> skipped;
  ResolverOutput output;
};

}  // namespace

class Engine::Impl {
 public:
  explicit Impl(const EngineOptions& options)
      : options_(options), decoder_(options.max_message_bytes) {}

  Status Open() {
    StateStore::Options store_options;
    store_options.sync = options_.sync;
    store_options.create_if_missing = true;  // only the engine makes a new state directory
    STATEFOLD_RETURN_IF_ERROR(StateStore::Open(options_.state_dir, store_options, &store_));
    return OpenOnlineStore({options_.online_store, options_.should_stop}, store_.get(), &online_);
  }

  void AddSource(std::unique_ptr<Source> source) {
    source->LimitRecordBytes(options_.max_message_bytes);  // a longer record is not read whole
    sources_.push_back(std::move(source));
  }

  size_t max_message_bytes() const { return options_.max_message_bytes; }

  void AddResolver(Resolver* resolver) {
    ResolverRun& r = resolvers_.emplace_back();
    r.resolver = resolver;
    r.spec = &resolver->spec();
    r.index = static_cast<uint32_t>(resolvers_.size() - 1);
    r.cache = std::make_unique<LiveStateCache>(resolver, store_.get());
    if (r.spec->event_layout != nullptr) {
      r.event_decoder = std::make_unique<EventDecoder>(*r.spec->event_layout);
    }
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
    epoch_.Reserve(epoch_messages);
    for (ResolverRun& r : resolvers_) r.epoch_keys.reserve(epoch_messages);
    checkpoint_.emplace(store_.get(), Checkpoint::Options{options_.checkpoint_every_messages,
                                                          options_.checkpoint_every_ms});
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
        if (checkpoint_->Due(epoch_.Full())) STATEFOLD_RETURN_IF_ERROR(CommitEpoch());
      }
      if (options_.should_stop && options_.should_stop()) {
        stats->interrupted = true;
        break;
      }
    }
    STATEFOLD_RETURN_IF_ERROR(CommitEpoch());
    for (const ResolverRun& r : resolvers_) stats->keys += r.cache->committed_keys();
    for (const auto& source : sources_) {
      for (RefusedPartition& refused : source->Refused()) {
        stats->refused.push_back({source->name(), std::move(refused)});
      }
    }
    stats->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return Status::Ok();
  }

 private:
  // Finds each resolver's source, opens its state, and seeks every source to its committed
  // position.
  Status Prepare() {
    for (ResolverRun& r : resolvers_) {
      bool found_source = false;
      for (uint32_t s = 0; s < sources_.size(); ++s) {
        if (sources_[s]->name() == r.spec->source) {
          r.source_index = s;
          found_source = true;
        }
      }
      if (!found_source) {
        return Status::InvalidArgument("resolver " + r.spec->name + " reads source '" +
                                       r.spec->source + "', which has no input");
      }
      STATEFOLD_RETURN_IF_ERROR(r.cache->Open());
    }
    std::string instance_id;
    STATEFOLD_RETURN_IF_ERROR(store_->InstanceId(&instance_id));
    std::vector<Source*> sources;
    for (auto& source : sources_) {
      std::vector<SourcePosition> positions;
      STATEFOLD_RETURN_IF_ERROR(store_->GetPositions(source->name(), &positions));
      source->SetInstanceId(instance_id);
      STATEFOLD_RETURN_IF_ERROR(source->Seek(positions));
      sources.push_back(source.get());
    }
    return dead_letters_.Open(store_.get(), std::move(sources));
  }

  // Decodes a batch of records of source `source_index` into the epoch log (records that do
  // not decode become dead letters), then runs each resolver of the source over them.
  Status ProcessBatch(uint32_t source_index, const std::vector<RawRecord>& records) {
    const uint32_t first = epoch_.size();
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
      checkpoint_->CountMessage();
      if (!status.ok()) {
        dead_letters_.AddRecord(source_index, record, status.message());
        ++stats_->dead_letters;
        continue;
      }
      int64_t timestamp_ms = decoded.timestamp_ms;
      if (!decoded.has_timestamp) {
        if (now_ms == 0) now_ms = WallClockMillis();
        timestamp_ms = now_ms;
      }
      const uint32_t index = epoch_.Append(source_index, record, decoded, timestamp_ms);
      if (decoded.shape != nullptr) {
        // Views into the batch's records, which outlive this call.
        epoch_.SetValueSlots(index, static_cast<int32_t>(value_slots_.size()));
        value_slots_.push_back({decoded.shape->id(), decoded.shape, decoded.value_member,
                                slot_values_.data() + slot_values_.size()});
        for (size_t i = 0; i < decoded.shape->slot_count(); ++i) {
          slot_values_.push_back(decoded.slot_values[i]);  // within the reserved room
        }
      }
    }
    const uint32_t end = epoch_.size();
    for (ResolverRun& r : resolvers_) {
      if (r.source_index != source_index) continue;
      STATEFOLD_RETURN_IF_ERROR(RunResolver(r, first, end));
    }
    return Status::Ok();
  }

  // Routes epoch messages [first, end) to `r`: finds each key and its live state, runs the
  // resolver in chunks, and rolls back a key whose call failed.
  Status RunResolver(ResolverRun& r, uint32_t first, uint32_t end) {
    const ResolverSpec& spec = *r.spec;
    // Pass 1: keys (appending to the epoch log, so views are only taken in pass 2).
    const size_t batch_keys = r.epoch_keys.size();  // the batch's keys follow
    for (uint32_t i = first; i < end; ++i) {
      const EpochMessage& m = epoch_[i];
      KeyRef ref = epoch_.RecordKey(i);
      if (!spec.key_path.empty()) {
        Status status = decoder_.ExtractKey(epoch_.Value(m), spec.key_path, &key_scratch_);
        if (!status.ok()) {
          AddDeadLetter(r, i, std::string_view(), status.message());
          continue;
        }
        ref = epoch_.AddKey(i, key_scratch_);
      } else if (!m.has_key && spec.stateful) {
        AddDeadLetter(r, i, std::string_view(),
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
    LiveStateCache& cache = *r.cache;
    if (spec.stateful) {
      // Hash every key and prefetch its bucket, then its node, so that the batch's cache
      // misses overlap instead of coming one after another.
      r.hashes.clear();
      for (const KeyRef& ref : keys) {
        r.hashes.push_back(LiveStateCache::Hash(epoch_.Key(ref)));
        cache.Prefetch(r.hashes.back());
      }
      for (uint64_t hash : r.hashes) cache.PrefetchNode(hash);
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      const KeyRef& ref = keys[k];
      Message message = epoch_.MessageAt(ref);
      if (r.event_decoder != nullptr) message.fields = r.event_fields[k];
      r.messages.push_back(message);
      if (spec.stateful) {
        Status status;  // set only on failure: no Status made and destroyed per message
        LiveStateCache::Node* node = cache.Lookup(message.key, r.hashes[k], &status);
        if (node == nullptr) return status;
        PrefetchLine(node->value.state);  // the resolver reads it next
        pending_.PrefetchEntity(node->value.pending);
        r.items.push_back({node, ref.epoch_index});
        r.states.push_back(node->value.state);
      } else {
        r.items.push_back({nullptr, ref.epoch_index});
        r.states.push_back(nullptr);
      }
    }
    const size_t n = r.messages.size();
    r.skipped.assign(n, 0);
    ResolverOutputReader output(&r.output);
    for (size_t start = 0; start < n;) {
      const size_t count = std::min(n - start, kResolverChunk);
      output.Clear();
      const size_t consumed = r.resolver->RunBatch(
          std::span<const Message>(r.messages.data() + start, count),
          std::span<const StateHandle>(r.states.data() + start, count), &r.output);
      if (output.interrupted())
        return Status::Aborted("resolver " + spec.name + " was interrupted");
      if (consumed == 0 || consumed > count) {
        return Status::InvalidArgument("resolver " + spec.name + " consumed " +
                                       std::to_string(consumed) + " of " + std::to_string(count) +
                                       " messages");
      }
      for (const ResolverOutputReader::Rejection& rejection : output.rejections()) {
        const size_t j = start + rejection.index;
        r.skipped[j] = 1;
        AddDeadLetter(r, r.items[j].epoch_index, r.messages[j].key, rejection.reason);
      }
      const size_t failed = output.failed() ? start + output.failed_index() : n;
      if (failed < n) r.skipped[failed] = 1;
      AddOutputs(r, output, start, failed);
      if (spec.stateful) {
        for (size_t j = start; j < start + consumed; ++j) {
          if (!r.skipped[j]) cache.MarkDirty(r.items[j].node);
        }
      }
      if (failed < n) {
        ++stats_->resolver_errors;
        const BatchItem& item = r.items[failed];
        AddDeadLetter(r, item.epoch_index, r.messages[failed].key, output.failure());
        if (spec.stateful) {
          STATEFOLD_RETURN_IF_ERROR(RecoverKey(r, item.node, item.epoch_index, false));
          SetReplayBase(r, item.node, batch_keys + failed + 1);
          for (size_t j = failed + 1; j < n; ++j) {
            if (r.items[j].node == item.node) r.states[j] = item.node->value.state;
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
  void DecodeEvents(ResolverRun& r, size_t first) {
    r.event_inputs.clear();
    for (size_t k = first; k < r.epoch_keys.size(); ++k) {
      const EpochMessage& m = epoch_[r.epoch_keys[k].epoch_index];
      r.event_inputs.push_back(
          {epoch_.Value(m),
           m.value_slots >= 0 ? &value_slots_[static_cast<size_t>(m.value_slots)] : nullptr});
    }
    r.event_decoder->DecodeBatch(r.event_inputs, &r.event_fields, &r.event_failures);
    if (r.event_failures.empty()) return;
    size_t kept = 0, failure = 0;
    for (size_t i = 0; i < r.event_fields.size(); ++i) {
      const KeyRef ref = r.epoch_keys[first + i];
      if (failure < r.event_failures.size() && r.event_failures[failure].index == i) {
        AddDeadLetter(r, ref.epoch_index, epoch_.Key(ref),
                      r.event_failures[failure++].status.message());
        continue;
      }
      r.epoch_keys[first + kept] = ref;
      r.event_fields[kept++] = r.event_fields[i];
    }
    r.epoch_keys.resize(first + kept);
  }

  // Adds the feature values of a resolver call's output to the pending features; `base` is
  // the batch index of the call's first message, and values of message `failed` (a batch
  // index) are dropped.
  void AddOutputs(ResolverRun& r, const ResolverOutputReader& output, size_t base, size_t failed) {
    int64_t counted = -1;
    const ResolverOutputReader::Value* previous = nullptr;
    const size_t end = std::min(r.items.size(), base + kResolverChunk);
    for (size_t j = base; j < std::min(end, base + kPendingAhead); ++j) PrefetchPending(r, j);
    for (const ResolverOutputReader::Value& v : output.values()) {
      const size_t j = base + v.message_index;
      if (j == failed) continue;
      if (static_cast<int64_t>(j) != counted) {
        ++stats_->outputs;
        counted = static_cast<int64_t>(j);
        if (j + kPendingAhead < end) PrefetchPending(r, j + kPendingAhead);
      }
      LiveStateCache::Node* node = r.items[j].node;
      pending_.Add(v.ns, output.entity(v), v.feature, output.value_json(v),
                   ResolverOutputReader::SameEntity(previous, v), r.items[j].epoch_index,
                   node != nullptr ? &node->value.pending : nullptr);
      previous = &v;
    }
  }

  // Prefetches the pending values of batch message j's entity (the one its key wrote last).
  void PrefetchPending(const ResolverRun& r, size_t j) const {
    if (r.items[j].node != nullptr) pending_.PrefetchValues(r.items[j].node->value.pending);
  }

  // Records the node's live state, just rebuilt by RecoverKey after the failure of the
  // message before `position` in r.epoch_keys, as the replay base of the key's next failure
  // in this epoch. A state that does not encode keeps the previous base (or none): the
  // checkpoint finds the message that broke it.
  void SetReplayBase(ResolverRun& r, const LiveStateCache::Node* node, size_t position) {
    r.replay_scratch.clear();
    if (!r.resolver->EncodeState(node->value.state, &r.replay_scratch).ok()) return;
    ResolverRun::ReplayBase& base = r.replay_bases[node];
    base.state.swap(r.replay_scratch);
    base.position = position;
    base.applied = node->value.dirty;
  }

  // Rebuilds the live state of the node's key: its committed state, then its epoch messages
  // before epoch index `limit` that are not dead letters. Without `validate`, a key that failed
  // before in this epoch starts from its replay base instead (the same state, as SetReplayBase
  // encoded it) and replays only the messages after it. With `validate` (the checkpoint's
  // repair), replay starts from the committed state, the state is encoded after each replayed
  // message, and a message that leaves it not fitting the schema is dead-lettered. A message
  // that fails during replay is dead-lettered and replay restarts.
  Status RecoverKey(ResolverRun& r, LiveStateCache::Node* node, uint32_t limit, bool validate) {
    const std::string& key = node->key;
    CacheEntry* entry = &node->value;
    const ResolverRun::ReplayBase* base = nullptr;
    if (!validate) {
      auto found = r.replay_bases.find(node);
      if (found != r.replay_bases.end()) base = &found->second;
    }
    std::vector<Message> replay;
    std::vector<uint32_t> replay_indexes;
    std::vector<StateHandle> states;
    ResolverOutput replay_output;
    ResolverOutputReader output(&replay_output);
    std::string encoded;
    // Its own event decoder: the batch's decoded messages must stay valid while this runs.
    std::unique_ptr<EventDecoder> decoder;
    std::vector<EventInput> inputs;
    std::vector<std::span<const FieldValue>> fields;
    std::vector<DecodeFailure> failures;
    if (r.spec->event_layout != nullptr) {
      decoder = std::make_unique<EventDecoder>(*r.spec->event_layout);
    }
    for (;;) {
      STATEFOLD_RETURN_IF_ERROR(base != nullptr ? r.cache->Restore(node, base->state)
                                                : r.cache->Reload(node));
      replay.clear();
      replay_indexes.clear();
      for (size_t p = base != nullptr ? base->position : 0; p < r.epoch_keys.size(); ++p) {
        const KeyRef& ref = r.epoch_keys[p];
        if (ref.epoch_index >= limit) break;
        if (epoch_.Key(ref) != key || r.dead.count(ref.epoch_index)) continue;
        replay.push_back(epoch_.MessageAt(ref));
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
      const size_t step = validate ? 1 : replay.size();
      for (size_t start = 0; start < replay.size() && !restart;) {
        const size_t count = std::min(step, replay.size() - start);
        states.assign(count, entry->state);
        output.Clear();
        const size_t consumed = r.resolver->RunBatch(
            std::span<const Message>(replay.data() + start, count), states, &replay_output);
        if (output.interrupted()) {
          return Status::Aborted("resolver " + r.spec->name + " was interrupted");
        }
        for (const ResolverOutputReader::Rejection& rejection : output.rejections()) {
          AddDeadLetter(r, replay_indexes[start + rejection.index], key, rejection.reason);
          restart = true;
        }
        if (output.failed()) {
          AddDeadLetter(r, replay_indexes[start + output.failed_index()], key, output.failure());
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
          const ResolverOutputReader::Value* previous = nullptr;
          for (const ResolverOutputReader::Value& v : output.values()) {
            pending_.Add(v.ns, output.entity(v), v.feature, output.value_json(v),
                         ResolverOutputReader::SameEntity(previous, v),
                         replay_indexes[start + v.message_index], &entry->pending);
            previous = &v;
          }
        }
        start += consumed;
      }
      if (restart) continue;
      entry->dirty = !replay.empty() || (base != nullptr && base->applied);
      return Status::Ok();
    }
  }

  // Records that `r` could not take epoch message `epoch_index`, keyed by `key` (empty when
  // no key could be read), and leaves it out of the key's replays.
  void AddDeadLetter(ResolverRun& r, uint32_t epoch_index, std::string_view key,
                     std::string_view reason) {
    r.dead.insert(epoch_index);
    dead_letters_.AddMessage(epoch_, epoch_[epoch_index], r.index, r.spec->name, key, reason);
    ++stats_->dead_letters;
  }

  // Commits the epoch. Each component stages its writes into the checkpoint's one batch, in
  // this order, and the batch commits atomically:
  //   1. the resolvers' states (new schemas, changed states, key counts); a state that does
  //      not encode is rebuilt by replay first, which may add dead letters and feature values,
  //      so this comes before them;
  //   2. the feature values, through the online store (Redis acknowledges them here, before
  //      the commit, so that it is never behind the committed positions);
  //   3. the dead letters (a source's own dead-letter topic is published to here);
  //   4. the source positions;
  //   5. the run status.
  // Only after the commit do the components drop what they staged.
  Status CommitEpoch() {
    CheckpointBatch* batch = checkpoint_->batch();
    for (ResolverRun& r : resolvers_) {
      STATEFOLD_RETURN_IF_ERROR(r.cache->Stage(batch, [this, &r](LiveStateCache::Node* node) {
        return RecoverKey(r, node, UINT32_MAX, /*validate=*/true);
      }));
    }
    STATEFOLD_RETURN_IF_ERROR(pending_.Stage(epoch_, online_.get(), batch));
    STATEFOLD_RETURN_IF_ERROR(dead_letters_.Stage(batch));
    for (auto& source : sources_) batch->PutPositions(source->name(), source->Positions());
    CurrentRunStatus().Stage(batch);
    STATEFOLD_RETURN_IF_ERROR(checkpoint_->Commit());
    ++stats_->checkpoints;
    for (auto& source : sources_) source->Committed(source->Positions());
    if (options_.on_committed_feature) {
      for (const FeatureValue& value : pending_.staged()) options_.on_committed_feature(value);
    }
    pending_.Clear();
    dead_letters_.Clear();
    epoch_.Clear();
    for (ResolverRun& r : resolvers_) {
      r.epoch_keys.clear();
      r.dead.clear();
      r.replay_bases.clear();
      r.cache->EndEpoch(options_.state_cache_entries);
    }
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
    status.last_checkpoint_commit_ms = checkpoint_->last_commit_ms();
    for (const auto& source : sources_) {
      RunStatus::Source& s = status.sources.emplace_back();
      s.name = source->name();
      s.skipped_late = source->SkippedLate();
      for (const SourcePosition& p : source->Positions()) {
        int64_t lag = source->Lag(p.partition, p.next_offset);
        s.partitions.push_back(
            {p.partition, p.next_offset, lag < 0 ? std::nullopt : std::optional<int64_t>(lag)});
      }
      s.refused = source->Refused();
    }
    for (const ResolverRun& r : resolvers_) {
      status.resolvers.push_back({r.spec->name, r.cache->committed_keys()});
    }
    return status;
  }

  EngineOptions options_;
  RecordDecoder decoder_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<OnlineStore> online_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<ResolverRun> resolvers_;
  RunStats* stats_ = nullptr;
  int64_t run_started_ms_ = 0;

  EpochLog epoch_;
  // The value slots of the batch being processed (see ValueSlots), and their values, for the
  // resolvers' event decoders.
  std::vector<ValueSlots> value_slots_;
  std::vector<std::string_view> slot_values_;
  PendingFeatures pending_;
  DeadLetters dead_letters_;
  std::optional<Checkpoint> checkpoint_;  // from Run on
  std::string key_scratch_;
};

Status ValidateEngineOptions(const EngineOptions& options) {
  auto check = [](const char* name, uint64_t value, uint64_t minimum, uint64_t maximum) {
    if (value >= minimum && value <= maximum) return Status::Ok();
    return Status::InvalidArgument(std::string(name) + " must be an integer from " +
                                   std::to_string(minimum) + " to " + std::to_string(maximum) +
                                   ", got " + std::to_string(value));
  };
  constexpr uint64_t kMax = kMaxOptionValue;
  STATEFOLD_RETURN_IF_ERROR(check("batch_size", options.batch_size, 1, kMaxBatchSize));
  STATEFOLD_RETURN_IF_ERROR(
      check("checkpoint_every_messages", options.checkpoint_every_messages, 1, kMax));
  if (options.checkpoint_every_ms < 0) {
    return Status::InvalidArgument("checkpoint_every_ms must be an integer from 0 to " +
                                   std::to_string(kMax) + ", got " +
                                   std::to_string(options.checkpoint_every_ms));
  }
  STATEFOLD_RETURN_IF_ERROR(check("state_cache_entries", options.state_cache_entries, 0, kMax));
  return check("max_message_bytes", options.max_message_bytes, 1, kMax);
}

Status Engine::Open(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  STATEFOLD_RETURN_IF_ERROR(ValidateEngineOptions(options));
  auto impl = std::make_unique<Impl>(options);
  STATEFOLD_RETURN_IF_ERROR(impl->Open());
  engine->reset(new Engine(std::move(impl)));
  return Status::Ok();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

void Engine::AddSource(std::unique_ptr<Source> source) { impl_->AddSource(std::move(source)); }
void Engine::AddResolver(Resolver* resolver) { impl_->AddResolver(resolver); }
Status Engine::Run(RunStats* stats) {
  // A failed allocation ends the run as any error does: nothing past the last checkpoint is
  // committed, and the engine can still be destroyed (it releases its live states through
  // the resolvers, which outlive it).
  try {
    return impl_->Run(stats);
  } catch (const std::bad_alloc&) {
    return Status::Aborted(
        "out of memory: the run stopped without committing its last epoch (messages are "
        "limited to max_message_bytes, " +
        std::to_string(impl_->max_message_bytes()) + " bytes; state and batches are not)");
  }
}

}  // namespace statefold
