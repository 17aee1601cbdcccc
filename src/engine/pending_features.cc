// PendingFeatures (see pending_features.h).

#include "engine/pending_features.h"

#include <algorithm>

namespace statefold {

PendingFeatures::Entity* PendingFeatures::FindOrInsert(std::string_view ns,
                                                       std::string_view entity_id) {
  key_.assign(ns).push_back('\0');
  key_.append(entity_id);
  const uint64_t hash = KeyMap<PendingEntity>::Hash(key_);
  Entity* entity = entities_.Find(key_, hash);
  if (entity == nullptr) {
    entity = entities_.Insert(key_, hash);
    entity->value.ns_size = static_cast<uint32_t>(ns.size());
    entity->value.ns_data = ns.data();
  }
  return entity;
}

Status PendingFeatures::Stage(const EpochLog& log, OnlineStore* online, CheckpointBatch* batch) {
  // In key order ("<ns>\0<entity>\0<feature>"): sorting the entities' map keys once is far
  // cheaper than sorting every value, and in-order inserts are cheaper for the store.
  std::vector<Entity*> sorted;
  sorted.reserve(entities_.size());
  entities_.ForEach([&sorted](Entity* entity) { sorted.push_back(entity); });
  std::sort(sorted.begin(), sorted.end(),
            [](const Entity* a, const Entity* b) { return a->key < b->key; });
  staged_.clear();
  staged_.reserve(entities_.size() * 2);
  for (Entity* entity : sorted) {
    std::vector<PendingValue>& values = entity->value.values;
    std::sort(values.begin(), values.end(),
              [](const PendingValue& a, const PendingValue& b) { return a.feature < b.feature; });
    std::string_view key(entity->key);
    const uint32_t ns_size = entity->value.ns_size;
    for (const PendingValue& v : values) {
      const EpochMessage& message = log[static_cast<uint32_t>(v.order)];
      FeatureValue& w = staged_.emplace_back();
      w.ns = key.substr(0, ns_size);
      w.entity_id = key.substr(ns_size + 1);
      w.feature = v.feature;
      w.value_json = v.value_json;
      w.time_ms = message.timestamp_ms;
      w.offset = message.offset;
    }
  }
  return online->Write(staged_, batch);
}

void PendingFeatures::Clear() {
  entities_.Clear();
  last_ = nullptr;
  staged_.clear();
  ++generation_;
}

}  // namespace statefold
