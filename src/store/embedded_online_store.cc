// The embedded online store. Key "<namespace>\0<entity id>\0<feature>"; value
// zigzag-varint time_ms, varint offset, then the JSON text of the value.

#include "state/state_codec.h"
#include "store/online_store.h"

namespace statefold {
namespace {

class EmbeddedOnlineStore : public OnlineStore {
 public:
  explicit EmbeddedOnlineStore(StateStore* store) : store_(store) {}

  Status Write(std::span<const FeatureWrite> writes, CheckpointBatch* checkpoint) override {
    for (const FeatureWrite& w : writes) {
      key_.assign(w.ns).push_back('\0');
      key_.append(w.entity_id).push_back('\0');
      key_.append(w.feature);
      value_.clear();
      StateWriter writer(&value_);
      writer.WriteInt(w.time_ms);
      writer.WriteVarint(static_cast<uint64_t>(w.offset));
      value_.append(w.value_json);
      checkpoint->PutOnline(key_, value_);
    }
    return Status::Ok();
  }

  Status ReadEntity(std::string_view ns, std::string_view entity_id,
                    std::vector<StoredFeature>* features) override {
    features->clear();
    std::string prefix(ns);
    prefix.push_back('\0');
    prefix.append(entity_id).push_back('\0');
    Status decode_status;
    STATEFOLD_RETURN_IF_ERROR(
        store_->ScanOnline(prefix, [&](std::string_view key, std::string_view value) {
          StoredFeature f;
          f.feature = std::string(key.substr(prefix.size()));
          StateReader reader(value);
          uint64_t offset;
          if (!reader.ReadInt(&f.time_ms) || !reader.ReadVarint(&offset)) {
            decode_status = Status::Corruption("malformed online value for " + f.feature);
            return false;
          }
          f.offset = static_cast<int64_t>(offset);
          f.value_json = std::string(value.substr(reader.position()));  // JSON text follows
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

Status OpenOnlineStore(const OnlineStoreOptions& options, StateStore* store,
                       std::unique_ptr<OnlineStore>* out) {
  if (options.url.empty() || options.url == "embedded") {
    if (store == nullptr) {
      return Status::InvalidArgument("the embedded online store needs a state directory");
    }
    *out = NewEmbeddedOnlineStore(store);
    return Status::Ok();
  }
  return Status::InvalidArgument("unknown online store URL " + options.url +
                                 " (expected \"embedded\")");
}

}  // namespace statefold
