// StateInspector: read-side operations on a state directory for the `statefold state`,
// `get` and `dead-letters` commands and the Python Client. Never takes the directory's lock,
// so it may run beside an engine that is writing. It reads both the state store (state/) and
// the embedded online store (online/), so it sits above both, in a folder of its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "online/online_store.h"
#include "state/run_status.h"
#include "state/state_follower.h"
#include "state/state_store.h"

namespace statefold {

class StateInspector {
 public:
  // With `follow`, the inspector stays open beside a running engine and Refresh() shows its
  // newer checkpoints; without, it reads the snapshot at open time. Fails with NotFound when
  // the directory holds no state.
  static Status Open(const std::string& state_dir, bool follow,
                     std::unique_ptr<StateInspector>* inspector);
  // Following: catches up with the engine's checkpoints since the last call (a StateFollower).
  // A snapshot: does nothing.
  Status Refresh();

  // The state of `key` as JSON, decoded with the schema stored beside it. NotFound when the
  // resolver or key has no state.
  Status StateJson(std::string_view resolver, std::string_view key, std::string* json);
  // The stored payload (without header) of `key`, for language bindings that decode objects.
  Status StatePayload(std::string_view resolver, std::string_view key, std::string* payload);
  // Up to `limit` keys of `resolver`, in key order.
  Status ListKeys(std::string_view resolver, size_t limit, std::vector<std::string>* keys);
  // How many keys of `resolver` have stored state; NotFound, naming the resolvers that have
  // state, when it has none.
  Status StoredKeyCount(std::string_view resolver, uint64_t* keys);
  // The stored schema JSON of `resolver`; NotFound if it has never checkpointed state.
  Status Schema(std::string_view resolver, std::string* schema_json);
  // The features of one entity; NotFound when the entity has none.
  Status Features(std::string_view ns, std::string_view entity_id,
                  std::vector<StoredFeature>* features);
  // The metrics stored with the last checkpoint; NotFound before the first checkpoint.
  Status ReadRunStatus(RunStatus* status);
  // Dead-letter records (JSON objects) in the order they were recorded: the first `limit`,
  // and in *more (when given) how many there are after them.
  Status DeadLetters(size_t limit, std::vector<std::string>* records, uint64_t* more = nullptr);

 private:
  std::unique_ptr<StateFollower> follower_;  // with `follow`
  std::shared_ptr<StateStore> store_;        // the snapshot, or the follower's generation read
  std::unique_ptr<OnlineStore> online_;      // reads store_
};

// Deletes every state of `resolver` (not its source positions, so processing does not
// restart: the history before the current position is lost). Needs the state directory's
// lock: fails while an engine runs on it. NotFound when the directory holds no state (it is
// never created) or `resolver` has none.
Status ResetResolverState(const std::string& state_dir, std::string_view resolver);

}  // namespace statefold
