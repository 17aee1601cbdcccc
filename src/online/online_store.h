// OnlineStore: where feature values land so that they can be served. Writes come per
// checkpoint, before it commits: the embedded store puts them into the checkpoint's own
// WriteBatch, so features commit atomically with state and offsets; the Redis store sends them
// to Redis and returns once Redis has acknowledged all of them, so a committed checkpoint
// never claims values the store does not hold. Every value carries its feature time and the
// source offset that produced it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "state/state_store.h"
#include "statefold/feature_value.h"
#include "statefold/status.h"

namespace statefold {

struct StoredFeature {
  std::string feature;
  std::string value_json;
  int64_t time_ms = 0;
  int64_t offset = 0;
};

class OnlineStore {
 public:
  virtual ~OnlineStore() = default;
  // Stores `writes` (sorted by namespace, entity, feature; one value per feature): staged in
  // `checkpoint` (embedded), or acknowledged by the server before returning Ok (Redis, which
  // ignores `checkpoint`). After a failure the caller must not commit the checkpoint.
  virtual Status Write(std::span<const FeatureValue> writes, CheckpointBatch* checkpoint) = 0;
  // The features of one entity, sorted by feature name. Empty when the entity is unknown.
  virtual Status ReadEntity(std::string_view ns, std::string_view entity_id,
                            std::vector<StoredFeature>* features) = 0;
};

// The default online store: a column family of the state directory's RocksDB database.
std::unique_ptr<OnlineStore> NewEmbeddedOnlineStore(StateStore* store);

struct OnlineStoreOptions {
  std::string url;  // "" or "embedded": the state directory's store; "redis://..."
  std::function<bool()> should_stop;  // polled while retrying an unreachable server
};

// Whether `url` names the embedded store (the state directory's): "" or "embedded".
inline bool IsEmbeddedUrl(std::string_view url) { return url.empty() || url == "embedded"; }

// Opens the online store named by options.url. The embedded backend reads and writes
// `store`, which must outlive it (REQUIRES: non-null for the embedded store; may be nullptr
// for redis). Fails with InvalidArgument for a URL that names no backend or does not parse.
// Not thread-safe: one instance per thread.
Status OpenOnlineStore(const OnlineStoreOptions& options, StateStore* store,
                       std::unique_ptr<OnlineStore>* out);

}  // namespace statefold
