// StateFollower: the generations of a state directory's secondary instance.

#include "state/state_follower.h"

#include <utility>

namespace statefold {

StateFollower::StateFollower(std::string state_dir) : state_dir_(std::move(state_dir)) {}

Status StateFollower::Open() {
  if (generation() == 0) {
    // A secondary instance opens even without a table file that its MANIFEST names (the
    // writer may have just deleted it), and then reads around it. A read-only snapshot, which
    // refuses such a directory as damaged, checks it once before the first generation.
    StateStore::Options snapshot;
    snapshot.mode = StateStore::Mode::kReadOnly;
    std::unique_ptr<StateStore> check;
    STATEFOLD_RETURN_IF_ERROR(StateStore::Open(state_dir_, snapshot, &check));
  }
  StateStore::Options options;
  options.mode = StateStore::Mode::kFollower;
  std::unique_ptr<StateStore> store;
  STATEFOLD_RETURN_IF_ERROR(StateStore::Open(state_dir_, options, &store));
  std::lock_guard<std::mutex> lock(mutex_);
  store_ = std::move(store);
  generation_.fetch_add(1, std::memory_order_release);
  return Status::Ok();
}

Status StateFollower::CatchUp(bool* new_generation) {
  if (new_generation != nullptr) *new_generation = false;
  uint64_t generation;
  // A copy, so that catching up runs without the lock while readers take the store.
  std::shared_ptr<StateStore> store = Current(&generation);
  if (store == nullptr) {
    STATEFOLD_RETURN_IF_ERROR(Open());
    if (new_generation != nullptr) *new_generation = true;
    return Status::Ok();
  }
  bool must_reopen = false;
  STATEFOLD_RETURN_IF_ERROR(store->CatchUp(&must_reopen));
  if (!must_reopen) return Status::Ok();
  // The writer flushed: only a new instance is sure to see the flushed values.
  STATEFOLD_RETURN_IF_ERROR(Open());
  if (new_generation != nullptr) *new_generation = true;
  return Status::Ok();
}

std::shared_ptr<StateStore> StateFollower::Current(uint64_t* generation) const {
  std::lock_guard<std::mutex> lock(mutex_);
  *generation = generation_.load(std::memory_order_relaxed);
  return store_;
}

}  // namespace statefold
