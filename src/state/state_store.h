// StateStore: statefold's durable store, one RocksDB database per state directory. It holds,
// in column families, the resolver states, the embedded online store, the dead letters and
// the metadata (source positions, state schemas, counters). A checkpoint is one WriteBatch
// across all of them, so state, features and source offsets always move together: after a
// crash at any instant a reopened store shows exactly the last committed checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "statefold/source.h"
#include "statefold/status.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace statefold {

class StateStore;

// The writes of one checkpoint, applied atomically by StateStore::Commit.
class CheckpointBatch {
 public:
  explicit CheckpointBatch(StateStore* store);
  ~CheckpointBatch();

  void PutState(std::string_view resolver, std::string_view key, std::string_view stored_value);
  void PutOnline(std::string_view key, std::string_view value);
  // Stores `letter` as dead letter number `sequence` (state/dead_letter_record.h).
  void PutDeadLetter(uint64_t sequence, const DeadLetter& letter);
  void PutMeta(std::string_view name, std::string_view value);
  void PutPositions(std::string_view source, const std::vector<SourcePosition>& positions);

 private:
  friend class StateStore;
  StateStore* store_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  std::string scratch_;
};

class StateStore {
 public:
  enum class Mode : unsigned char {
    kReadWrite,  // the engine: takes the directory's lock
    kReadOnly,   // a snapshot for one-shot inspection; may run beside a writer
    kFollower,   // a long-lived reader beside a writer; CatchUp() makes new commits visible
  };
  struct Options {
    Mode mode = Mode::kReadWrite;
    bool sync = false;  // fsync each commit (power-loss safety); the WAL alone survives kill -9
  };

  // Opens (creating unless read-only) the store in `dir`.
  static Status Open(const std::string& dir, const Options& options,
                     std::unique_ptr<StateStore>* store);
  ~StateStore();

  // Follower mode: makes the writer's commits so far visible to this reader. With
  // `must_reopen`, sets it when the writer has flushed memtables to table files since the
  // previous call: then reopen the follower. (A RocksDB secondary instance that missed the
  // writer's last writes before a flush, whose log the writer then deletes, keeps the older
  // values in its own memtables, and a point read (GetState, GetMeta) stops at them rather
  // than reach the flushed file, until the writer writes again. Scans merge every source by
  // sequence number and are not affected. A newly opened follower reads correctly.)
  Status CatchUp(bool* must_reopen = nullptr);

  // Writes the memtables to table files (the writer; tools and tests).
  Status Flush();

  // Commits every write of `batch` atomically, then clears it.
  Status Commit(CheckpointBatch* batch);

  // Sets *found and, when found, *value to the stored state of `key`.
  Status GetState(std::string_view resolver, std::string_view key, std::string* value, bool* found);
  // Calls `visit(key, stored_value)` for the keys of `resolver` in key order, until it returns
  // false.
  Status ScanStates(std::string_view resolver,
                    const std::function<bool(std::string_view, std::string_view)>& visit);
  // Deletes every state of `resolver` and its schema and counters (not its source positions).
  Status ResetResolver(std::string_view resolver);

  Status GetMeta(std::string_view name, std::string* value, bool* found);
  Status GetPositions(std::string_view source, std::vector<SourcePosition>* positions);

  // Calls `visit(key, value)` for the online entries whose key starts with `prefix`.
  Status ScanOnline(std::string_view prefix,
                    const std::function<bool(std::string_view, std::string_view)>& visit);

  // Calls `visit(sequence, record_json)` for dead letters in order.
  Status ScanDeadLetters(const std::function<bool(uint64_t, std::string_view)>& visit);

 private:
  friend class CheckpointBatch;
  StateStore() = default;
  Status Scan(rocksdb::ColumnFamilyHandle* family, std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit);
  // The newest table file at level 0, where flushes put their output (0: none).
  uint64_t NewestLevel0File() const;

  Options options_;
  std::string follower_dir_;         // the follower's own scratch directory, removed on close
  uint64_t newest_level0_file_ = 0;  // follower: as of the last catch-up
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> families_;  // meta, state, online, dead_letters
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* state_ = nullptr;
  rocksdb::ColumnFamilyHandle* online_ = nullptr;
  rocksdb::ColumnFamilyHandle* dead_letters_ = nullptr;
};

}  // namespace statefold
