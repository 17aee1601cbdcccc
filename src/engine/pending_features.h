// PendingFeatures: the feature values that resolvers produced since the last checkpoint, one
// per (entity, feature), waiting to be written with the next checkpoint. Several values of one
// feature in an epoch: the one of the newest message wins, also when a replay (the engine's
// rollback of a failed key) adds an older message's value again.
//
// Outputs of one key usually go to the key's own entity, so the caller may keep a Hint per key
// (the live-state cache does): the next value of that key then skips the hash lookup.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/epoch_log.h"
#include "engine/key_map.h"
#include "online/online_store.h"
#include "state/state_store.h"
#include "statefold/feature_value.h"
#include "statefold/internal/prefetch.h"
#include "statefold/status.h"

namespace statefold {

struct PendingValue {
  std::string_view feature;  // owned by the resolver (see PendingFeatures::Add)
  std::string value_json;
  uint64_t order;  // the message's epoch index: its time and offset are in the epoch log
};

// The map key of an entity is "<namespace>\0<entity id>" (so that sorted entities give
// sorted online keys, state/state_layout.h).
struct PendingEntity {
  uint32_t ns_size = 0;
  const char* ns_data = nullptr;  // as the resolver passed it: usually the same pointer again
  std::vector<PendingValue> values;
};

class PendingFeatures {
 public:
  using Entity = KeyMap<PendingEntity>::Node;

  // Where a key's values went last. Valid while `generation` is the current one (Clear
  // starts a new generation, so a stale hint is never followed).
  struct Hint {
    Entity* entity = nullptr;
    uint64_t generation = 0;
  };

  // Records `value_json` as the value of `feature` of entity (`ns`, `entity_id`), produced by
  // the message of epoch index `order`, unless a newer message (larger order) set it already.
  // REQUIRES: `ns` and `feature` stay valid until Clear (they are the resolver's fixed names);
  // the rest is copied. With `same_entity` the entity is that of the previous Add (the caller
  // knows it by construction: one ResolverOutput::StartEntity), and is not compared again.
  // `hint` (may be nullptr) is followed when it is for this entity, and updated otherwise.
  void Add(std::string_view ns, std::string_view entity_id, std::string_view feature,
           std::string_view value_json, bool same_entity, uint64_t order, Hint* hint) {
    if (!same_entity && (last_ == nullptr || !Is(last_, ns, entity_id))) {
      if (hint != nullptr && hint->generation == generation_ && Is(hint->entity, ns, entity_id)) {
        last_ = hint->entity;
      } else {
        last_ = FindOrInsert(ns, entity_id);
        if (hint != nullptr) *hint = Hint{last_, generation_};
      }
    }
    SetValue(&last_->value, feature, value_json, order);
  }

  // Prefetches the entity of `hint` (with the lookup of its key's state), and later the
  // values themselves (a few messages before they are added), when the hint is current.
  void PrefetchEntity(const Hint& hint) const {
    if (hint.generation != generation_) return;
    PrefetchLine(hint.entity);
    PrefetchLine(reinterpret_cast<const char*>(hint.entity) + sizeof(Entity) - 1);
  }
  void PrefetchValues(const Hint& hint) const {
    if (hint.generation != generation_) return;
    const std::vector<PendingValue>& values = hint.entity->value.values;
    const char* data = reinterpret_cast<const char*>(values.data());
    const size_t bytes = values.size() * sizeof(PendingValue);
    for (size_t at = 0; at < bytes; at += 64) PrefetchLine(data + at);
  }

  // Hands every pending value to `online`, sorted by namespace, entity and feature, with the
  // feature time and offset of its message in `log` (the embedded store stages them in
  // `batch`; Redis acknowledges them before this returns). On failure the checkpoint must
  // not commit. The values stay readable through staged() until Clear.
  Status Stage(const EpochLog& log, OnlineStore* online, CheckpointBatch* batch);
  std::span<const FeatureValue> staged() const { return staged_; }

  // Forgets every value, once the checkpoint committed; hints given out become stale.
  void Clear();

  size_t entity_count() const { return entities_.size(); }

 private:
  [[gnu::always_inline]] static bool Is(const Entity* e, std::string_view ns,
                                        std::string_view entity_id) {
    const std::string& key = e->key;
    const uint32_t ns_size = e->value.ns_size;
    return ns.size() == ns_size && key.size() == ns.size() + 1 + entity_id.size() &&
           ShortBytesEqual(std::string_view(key.data() + ns_size + 1, entity_id.size()),
                           entity_id) &&
           (ns.data() == e->value.ns_data || std::memcmp(key.data(), ns.data(), ns.size()) == 0);
  }
  [[gnu::always_inline]] static void SetValue(PendingEntity* entity, std::string_view feature,
                                              std::string_view value_json, uint64_t order) {
    PendingValue* value = nullptr;
    for (PendingValue& v : entity->values) {
      if (v.feature.data() == feature.data() || v.feature == feature) {
        if (v.order > order) return;  // a replayed older message never overwrites a newer value
        value = &v;
        break;
      }
    }
    if (value == nullptr) {
      value = &entity->values.emplace_back();
      value->feature = feature;
    }
    if (value->value_json.size() == value_json.size()) {  // often: a count of as many digits
      short_bytes::Copy(value->value_json.data(), value_json.data(), value_json.size());
    } else {
      value->value_json.assign(value_json);
    }
    value->order = order;
  }
  Entity* FindOrInsert(std::string_view ns, std::string_view entity_id);

  KeyMap<PendingEntity> entities_;
  Entity* last_ = nullptr;  // the entity of the previous Add
  uint64_t generation_ = 1;
  std::string key_;  // scratch
  std::vector<FeatureValue> staged_;
};

}  // namespace statefold
