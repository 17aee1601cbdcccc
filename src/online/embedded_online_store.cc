// The embedded online store: the state directory's `online` column family (keys and values
// as in state/state_layout.h).

#include "online/online_store.h"
#include "state/state_layout.h"

namespace statefold {
namespace {

class EmbeddedOnlineStore : public OnlineStore {
 public:
  explicit EmbeddedOnlineStore(StateStore* store) : store_(store) {}

  Status Write(std::span<const FeatureValue> writes, CheckpointBatch* checkpoint) override {
    for (const FeatureValue& w : writes) {
      key_.clear();
      state_layout::AppendOnlineEntityPrefix(w.ns, w.entity_id, &key_);
      key_.append(w.feature);
      value_.clear();
      state_layout::AppendOnlineValue(w.time_ms, w.offset, w.value_json, &value_);
      checkpoint->PutOnline(key_, value_);
    }
    return Status::Ok();
  }

  Status ReadEntity(std::string_view ns, std::string_view entity_id,
                    std::vector<StoredFeature>* features) override {
    features->clear();
    std::string prefix;
    state_layout::AppendOnlineEntityPrefix(ns, entity_id, &prefix);
    Status decode_status;
    STATEFOLD_RETURN_IF_ERROR(
        store_->ScanOnline(prefix, [&](std::string_view key, std::string_view value) {
          StoredFeature f;
          f.feature = std::string(key.substr(prefix.size()));
          std::string_view json;
          if (!state_layout::ParseOnlineValue(value, &f.time_ms, &f.offset, &json)) {
            decode_status = Status::Corruption("malformed online value for " + f.feature);
            return false;
          }
          f.value_json = std::string(json);
          features->push_back(std::move(f));
          return true;
        }));
    return decode_status;
  }

 private:
  StateStore* store_;
  std::string key_;
  std::string value_;
};

}  // namespace

std::unique_ptr<OnlineStore> NewEmbeddedOnlineStore(StateStore* store) {
  return std::make_unique<EmbeddedOnlineStore>(store);
}

}  // namespace statefold
