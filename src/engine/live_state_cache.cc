// LiveStateCache (see live_state_cache.h).

#include "engine/live_state_cache.h"

#include <algorithm>

#include "state/state_layout.h"
#include "state/state_schema.h"
#include "statefold/state_codec.h"

namespace statefold {

LiveStateCache::LiveStateCache(Resolver* resolver, StateStore* store)
    : resolver_(resolver), spec_(resolver->spec()), store_(store) {}

LiveStateCache::~LiveStateCache() {
  map_.ForEach([this](Node* node) {
    if (node->value.state != nullptr) resolver_->ReleaseState(node->value.state);
  });
}

Status LiveStateCache::Open() {
  std::string value;
  bool found;
  STATEFOLD_RETURN_IF_ERROR(store_->GetMeta(state_layout::KeyCountKey(spec_.name), &value, &found));
  committed_keys_ = found ? std::stoull(value) : 0;
  if (!spec_.stateful) return Status::Ok();
  STATEFOLD_RETURN_IF_ERROR(store_->GetMeta(state_layout::SchemaKey(spec_.name), &value, &found));
  if (!found) {
    schema_pending_ = true;
  } else if (value != spec_.state_schema) {
    if (committed_keys_ > 0) {
      // Both ways on drop the stored history: the message says so, and what changed.
      return Status::InvalidArgument(
          "the state schema of resolver " + spec_.name + " changed since its " +
          std::to_string(committed_keys_) + " stored states were written (" +
          DescribeSchemaChange(value, spec_.state_schema) +
          "), and statefold does not migrate state yet. `statefold state reset " + spec_.name +
          "` or a new resolver name would go on, but both lose the history before the "
          "current input position: the source positions stay, so the state starts empty at "
          "the next message. To keep the history, go back to the previous state type, or "
          "run the whole input again into a new state directory");
    }
    schema_pending_ = true;
  }
  return Status::Ok();
}

LiveStateCache::Node* LiveStateCache::Load(std::string_view key, uint64_t hash, Status* status) {
  Node* node = map_.Insert(key, hash);
  *status = LoadCommitted(key, &node->value);
  if (!status->ok()) {
    map_.Erase(node);
    return nullptr;
  }
  return node;
}

Status LiveStateCache::Reload(Node* node) {
  resolver_->ReleaseState(node->value.state);
  node->value.state = nullptr;
  return LoadCommitted(node->key, &node->value);
}

Status LiveStateCache::Restore(Node* node, std::string_view encoded) {
  resolver_->ReleaseState(node->value.state);
  node->value.state = nullptr;
  return resolver_->DecodeState(encoded, &node->value.state)
      .WithContext("resolver " + spec_.name + ", key " + node->key + ", its replay base");
}

// Sets entry->state to the committed state of `key`, or to a new initial state.
Status LiveStateCache::LoadCommitted(std::string_view key, CacheEntry* entry) {
  bool found = false;
  // Until a checkpoint commits the resolver's first state, there is none to look up.
  if (committed_keys_ > 0) {
    STATEFOLD_RETURN_IF_ERROR(store_->GetState(spec_.name, key, &stored_, &found));
  }
  entry->committed = found;
  if (!found) return resolver_->NewState(&entry->state);
  uint32_t version;
  std::string_view payload;
  STATEFOLD_RETURN_IF_ERROR(ParseStateHeader(stored_, &version, &payload)
                                .WithContext("state of key " + std::string(key)));
  if (version != schema_version_) {
    return Status::Corruption("state of key " + std::string(key) + " of resolver " + spec_.name +
                              " has schema version " + std::to_string(version) + ", expected " +
                              std::to_string(schema_version_));
  }
  return resolver_->DecodeState(payload, &entry->state)
      .WithContext("resolver " + spec_.name + ", key " + std::string(key));
}

Status LiveStateCache::EncodeState(Node* node) {
  encoded_.clear();
  WriteStateHeader(schema_version_, &encoded_);
  return resolver_->EncodeState(node->value.state, &encoded_);
}

Status LiveStateCache::Stage(CheckpointBatch* batch, const std::function<Status(Node*)>& repair) {
  if (schema_pending_) {
    batch->PutMeta(state_layout::SchemaKey(spec_.name), spec_.state_schema);
    schema_pending_ = false;
  }
  std::sort(dirty_.begin(), dirty_.end(),
            [](const Node* a, const Node* b) { return a->key < b->key; });
  for (Node* node : dirty_) {
    CacheEntry& entry = node->value;
    entry.in_dirty_list = false;
    if (!entry.dirty) continue;
    if (!EncodeState(node).ok()) {
      STATEFOLD_RETURN_IF_ERROR(repair(node));
      if (!entry.dirty) continue;  // nothing left to store beyond the committed state
      STATEFOLD_RETURN_IF_ERROR(
          EncodeState(node).WithContext("resolver " + spec_.name + ", key " + node->key));
    }
    batch->PutState(spec_.name, node->key, encoded_);
    entry.dirty = false;
    if (!entry.committed) {
      entry.committed = true;
      ++committed_keys_;
      committed_keys_changed_ = true;
    }
  }
  dirty_.clear();
  if (committed_keys_changed_) {
    batch->PutMeta(state_layout::KeyCountKey(spec_.name), std::to_string(committed_keys_));
    committed_keys_changed_ = false;
  }
  return Status::Ok();
}

void LiveStateCache::EndEpoch(size_t budget) {
  if (map_.size() > budget) {
    const size_t target = budget - budget / 4;
    std::vector<Node*> victims;
    for (int pass = 0; pass < 2 && map_.size() > target; ++pass) {
      // Entries unused in this epoch first; then, if that was not enough, any entry.
      victims.clear();
      size_t keep = map_.size();
      map_.ForEach([&](Node* node) {
        if (keep > target && (pass == 1 || node->value.last_used_epoch < epoch_)) {
          victims.push_back(node);
          --keep;
        }
      });
      for (Node* node : victims) {
        resolver_->ReleaseState(node->value.state);
        map_.Erase(node);
      }
    }
  }
  ++epoch_;
}

}  // namespace statefold
