// StateInspector: read-only views of a state directory.

#include "inspect/state_inspector.h"

#include "state/state_layout.h"
#include "state/state_schema.h"
#include "statefold/state_codec.h"

namespace statefold {

Status StateInspector::Open(const std::string& state_dir, bool follow,
                            std::unique_ptr<StateInspector>* inspector) {
  auto result = std::make_unique<StateInspector>();
  if (follow) {
    result->follower_ = std::make_unique<StateFollower>(state_dir);
    STATEFOLD_RETURN_IF_ERROR(result->follower_->Open());
    uint64_t generation;
    result->store_ = result->follower_->Current(&generation);
  } else {
    StateStore::Options options;
    options.mode = StateStore::Mode::kReadOnly;
    std::unique_ptr<StateStore> store;
    STATEFOLD_RETURN_IF_ERROR(StateStore::Open(state_dir, options, &store));
    result->store_ = std::move(store);
  }
  result->online_ = NewEmbeddedOnlineStore(result->store_.get());
  *inspector = std::move(result);
  return Status::Ok();
}

Status StateInspector::Refresh() {
  if (follower_ == nullptr) return Status::Ok();
  bool new_generation = false;
  STATEFOLD_RETURN_IF_ERROR(follower_->CatchUp(&new_generation));
  if (!new_generation) return Status::Ok();
  uint64_t generation;
  std::shared_ptr<StateStore> store = follower_->Current(&generation);
  online_ = NewEmbeddedOnlineStore(store.get());
  store_ = std::move(store);
  return Status::Ok();
}

Status StateInspector::Schema(std::string_view resolver, std::string* schema_json) {
  bool found;
  STATEFOLD_RETURN_IF_ERROR(
      store_->GetMeta(state_layout::SchemaKey(resolver), schema_json, &found));
  if (!found) return Status::NotFound("resolver " + std::string(resolver) + " has no stored state");
  return Status::Ok();
}

Status StateInspector::StoredKeyCount(std::string_view resolver, uint64_t* keys) {
  return store_->StoredKeyCount(resolver, keys);
}

Status StateInspector::StatePayload(std::string_view resolver, std::string_view key,
                                    std::string* payload) {
  std::string stored;
  bool found;
  STATEFOLD_RETURN_IF_ERROR(store_->GetState(resolver, key, &stored, &found));
  if (!found) {
    return Status::NotFound("resolver " + std::string(resolver) + " has no state for key " +
                            std::string(key));
  }
  uint32_t version;
  std::string_view view;
  STATEFOLD_RETURN_IF_ERROR(ParseStateHeader(stored, &version, &view));
  payload->assign(view);
  return Status::Ok();
}

Status StateInspector::StateJson(std::string_view resolver, std::string_view key,
                                 std::string* json) {
  std::string schema_json, payload;
  STATEFOLD_RETURN_IF_ERROR(Schema(resolver, &schema_json));
  STATEFOLD_RETURN_IF_ERROR(StatePayload(resolver, key, &payload));
  StateSchema schema;
  STATEFOLD_RETURN_IF_ERROR(StateSchema::Parse(schema_json, &schema));
  json->clear();
  return schema.PayloadToJson(payload, json).WithContext("state of key " + std::string(key));
}

Status StateInspector::ListKeys(std::string_view resolver, size_t limit,
                                std::vector<std::string>* keys) {
  keys->clear();
  if (limit == 0) return Status::Ok();  // the scan's callback sees one record before it stops
  return store_->ScanStates(resolver, [&](std::string_view key, std::string_view) {
    keys->emplace_back(key);
    return keys->size() < limit;
  });
}

Status StateInspector::Features(std::string_view ns, std::string_view entity_id,
                                std::vector<StoredFeature>* features) {
  STATEFOLD_RETURN_IF_ERROR(online_->ReadEntity(ns, entity_id, features));
  if (features->empty()) {
    return Status::NotFound("no features for " + std::string(ns) + " " + std::string(entity_id));
  }
  return Status::Ok();
}

Status StateInspector::ReadRunStatus(RunStatus* status) {
  return RunStatus::Read(store_.get(), status);
}

Status StateInspector::DeadLetters(size_t limit, std::vector<std::string>* records,
                                   uint64_t* more) {
  records->clear();
  if (more != nullptr) *more = 0;
  return store_->ScanDeadLetters([&](uint64_t, std::string_view record) {
    if (records->size() < limit) {
      records->emplace_back(record);
    } else if (more != nullptr) {
      ++*more;  // counted, so that a listing cut at its limit can say how many it left out
    }
    return records->size() < limit || more != nullptr;
  });
}

Status ResetResolverState(const std::string& state_dir, std::string_view resolver) {
  std::unique_ptr<StateStore> store;
  STATEFOLD_RETURN_IF_ERROR(StateStore::Open(state_dir, StateStore::Options(), &store));
  return store->ResetResolver(resolver);
}

}  // namespace statefold
