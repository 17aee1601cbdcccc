// StateFollower: a long-lived reader of a state directory beside the engine that writes it (in
// this process or another), shared by the feature server and the inspector. It owns the RocksDB
// secondary instance (StateStore::Mode::kFollower), makes the engine's newer commits visible,
// and opens a new instance after the engine flushes: a secondary instance alone can keep
// serving older values then (StateStore::CatchUp says why).
//
// Each instance it opens is a generation. Readers on other threads hold the generation they
// got and move to the newest at a moment of their choosing (StateFollower::Reader, at the start
// of a request); an old generation is freed when its last reader lets go.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "state/state_store.h"
#include "statefold/status.h"

namespace statefold {

class StateFollower {
 public:
  // Does not open anything yet: see Open.
  explicit StateFollower(std::string state_dir);
  StateFollower(const StateFollower&) = delete;
  StateFollower& operator=(const StateFollower&) = delete;

  // Open and CatchUp are called by one thread at a time (the follower's owner); generation(),
  // Current() and Readers may be used from any thread meanwhile.

  // Opens a new instance of the directory and publishes it as the next generation. Fails with
  // NotFound while the directory holds no state yet (no engine has created it), or with the
  // store's error (e.g. IOError while an engine is still creating it, Corruption when it is
  // damaged: the first Open checks that with a read-only snapshot).
  Status Open();
  // Makes the writer's commits so far visible to the current generation; after the writer has
  // flushed, opens and publishes the next generation instead. Before a first successful Open,
  // opens instead. Sets *new_generation (when given) to whether it published one. Fails with
  // the store's error; the current generation then stays, serving what it served.
  Status CatchUp(bool* new_generation = nullptr);

  // The current generation: 0 before the first successful Open, then 1, 2, ... One atomic
  // load, so that a reader can compare it at every request.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // The current instance and its generation; null with generation 0 before Open succeeds.
  std::shared_ptr<StateStore> Current(uint64_t* generation) const;

  // One thread's hold on a generation of `follower`, which must outlive it. Not thread-safe:
  // one per thread.
  class Reader {
   public:
    explicit Reader(const StateFollower* follower) : follower_(follower) {}

    // Moves to the follower's newest generation if it is not the one held. True when it moved:
    // whatever the caller built on the previous store() must then be rebuilt. One atomic load
    // when nothing changed.
    bool MoveToNewest() {
      if (follower_->generation() == generation_) return false;
      store_ = follower_->Current(&generation_);
      return true;
    }
    // The store of the generation held; null before the follower has opened one.
    StateStore* store() const { return store_.get(); }

   private:
    const StateFollower* follower_;
    uint64_t generation_ = 0;  // of store_
    std::shared_ptr<StateStore> store_;
  };

 private:
  const std::string state_dir_;
  mutable std::mutex mutex_;
  std::shared_ptr<StateStore> store_;  // guarded by mutex_
  std::atomic<uint64_t> generation_{0};
};

}  // namespace statefold
