// Checkpoint (see checkpoint.h).

#include "engine/checkpoint.h"

namespace statefold {

Checkpoint::Checkpoint(StateStore* store, const Options& options)
    : store_(store), options_(options), batch_(store), started_(std::chrono::steady_clock::now()) {}

Status Checkpoint::Commit() {
  const auto commit_started = std::chrono::steady_clock::now();
  STATEFOLD_RETURN_IF_ERROR(store_->Commit(&batch_));
  const auto now = std::chrono::steady_clock::now();
  last_commit_ms_ = std::chrono::duration<double, std::milli>(now - commit_started).count();
  ++committed_;
  messages_ = 0;
  started_ = now;
  return Status::Ok();
}

}  // namespace statefold
