// LiveStateCache: one resolver's live state objects, by key, over the committed states in the
// state store. A key's state is decoded once, when the key is first seen (or after it was
// evicted), mutated in place by the resolver's calls, and encoded only when a checkpoint
// stages it: hot keys are never decoded or encoded per message. Between checkpoints the cache
// keeps every key it touched; after one it is trimmed to its budget, least recently used
// epochs first.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/key_map.h"
#include "engine/pending_features.h"
#include "state/state_store.h"
#include "statefold/resolver.h"
#include "statefold/status.h"

namespace statefold {

struct CacheEntry {
  StateHandle state = nullptr;  // owned by the cache, released through the resolver
  bool dirty = false;           // changed since the last checkpoint
  bool in_dirty_list = false;
  bool committed = false;  // the store holds a state for this key
  uint64_t last_used_epoch = 0;
  // Where this key's feature values went last (see PendingFeatures::Hint).
  PendingFeatures::Hint pending;
};

class LiveStateCache {
 public:
  using Node = KeyMap<CacheEntry>::Node;

  // The states of `resolver` (REQUIRES: outlives the cache, which releases its states through
  // it), committed in `store` (REQUIRES: outlives the cache).
  LiveStateCache(Resolver* resolver, StateStore* store);
  ~LiveStateCache();
  LiveStateCache(const LiveStateCache&) = delete;
  LiveStateCache& operator=(const LiveStateCache&) = delete;

  // Reads the resolver's stored key count and schema. Fails when the state schema changed
  // under stored states (statefold does not migrate state yet); a new schema for a resolver
  // without stored states is staged with the next checkpoint.
  Status Open();

  // Keys whose state the store holds.
  uint64_t committed_keys() const { return committed_keys_; }
  size_t size() const { return map_.size(); }

  // Batched lookups overlap their cache misses: Hash every key of a batch and Prefetch it,
  // then PrefetchNode each, then Lookup each.
  static uint64_t Hash(std::string_view key) { return KeyMap<CacheEntry>::Hash(key); }
  void Prefetch(uint64_t hash) const { map_.Prefetch(hash); }
  void PrefetchNode(uint64_t hash) const { map_.PrefetchNode(hash); }

  // The node of `key` (`hash` is Hash(key)), with its committed state or, for a new key, a
  // new initial state loaded on a miss; nullptr with *status set when that fails. Marks the
  // key used in this epoch. The node stays valid until EndEpoch evicts it.
  Node* Lookup(std::string_view key, uint64_t hash, Status* status) {
    Node* node = map_.Find(key, hash);
    if (node == nullptr) node = Load(key, hash, status);
    if (node != nullptr) node->value.last_used_epoch = epoch_;
    return node;
  }

  // Replaces the node's live state with its committed state (or a new initial state): the
  // start of the engine's replay of a failed key.
  Status Reload(Node* node);
  // Replaces the node's live state with the decoding of `encoded` (a state the resolver's
  // EncodeState wrote in this run): the start of the replay of a key that failed before.
  Status Restore(Node* node, std::string_view encoded);

  // Records that the resolver changed the node's state.
  void MarkDirty(Node* node) {
    CacheEntry& entry = node->value;
    entry.dirty = true;
    if (!entry.in_dirty_list) {
      entry.in_dirty_list = true;
      dirty_.push_back(node);
    }
  }

  // Stages into `batch` a new schema, every changed state (in key order: RocksDB inserts keys
  // in order far faster than at random) and the key count, and marks the states clean. A
  // state the resolver cannot encode is handed to `repair` (the engine rebuilds it, leaving
  // out the message that broke it) and encoded again; a second failure fails the stage.
  Status Stage(CheckpointBatch* batch, const std::function<Status(Node*)>& repair);

  // Ends the epoch after its checkpoint committed: trims the cache to `budget` entries (all
  // are clean now), dropping those unused in this epoch first.
  void EndEpoch(size_t budget);

 private:
  Node* Load(std::string_view key, uint64_t hash, Status* status);
  Status LoadCommitted(std::string_view key, CacheEntry* entry);
  Status EncodeState(Node* node);

  Resolver* resolver_;
  const ResolverSpec& spec_;
  StateStore* store_;
  uint32_t schema_version_ = 1;
  bool schema_pending_ = false;  // the schema is staged with the next checkpoint
  uint64_t committed_keys_ = 0;
  bool committed_keys_changed_ = false;
  uint64_t epoch_ = 1;
  KeyMap<CacheEntry> map_;
  std::vector<Node*> dirty_;
  std::string stored_;   // scratch: a committed state as read
  std::string encoded_;  // scratch: a state as staged
};

}  // namespace statefold
