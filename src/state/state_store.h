// StateStore: statefold's durable store, one RocksDB database per state directory. It holds,
// in column families, the resolver states, the embedded online store, the dead letters and
// the metadata (source positions, state schemas, counters). A checkpoint is one WriteBatch
// across all of them, so state, features and source offsets always move together: after a
// crash at any instant a reopened store shows exactly the last committed checkpoint.
//
// A store never repairs or re-creates what it finds damaged: only a writer with
// create_if_missing creates a database, and only in a directory that holds none (missing or
// empty). A directory with a database that RocksDB cannot read, or that lacks one of
// statefold's column families, is refused by every mode alike with one message, "the state
// directory is damaged: ...". Opening a damaged directory as a writer would have RocksDB
// delete the table files its MANIFEST no longer names, and losing them silently is worse than
// any error.
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
class Env;
class Logger;
class Status;
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
                 // (opens without a table file its MANIFEST names: see StateFollower::Open)
  };
  struct Options {
    Mode mode = Mode::kReadWrite;
    bool sync = false;  // fsync each commit (power-loss safety); the WAL alone survives kill -9
    // kReadWrite: create a new database when `dir` does not exist or is empty (the engine).
    // Without it, and in the readers' modes, such a directory is NotFound.
    bool create_if_missing = false;
    // The file system RocksDB writes through (tests inject faults); null: the default one.
    rocksdb::Env* env = nullptr;
  };

  // Opens the store in `dir`. Fails with NotFound when `dir` holds no state (and the store may
  // not create it), with Corruption ("the state directory is damaged: ...") when it holds a
  // database that cannot be read whole, with IOError when it is in use by another writer or
  // its disk is full ("the state directory is full ..."). A failed open changes nothing in
  // `dir`.
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

  // Commits every write of `batch` atomically, then clears it. Fails (IOError) when the state
  // directory or its LOCK file was deleted or replaced since the open, before the write or
  // during it: a write into a deleted directory would vanish with it. A full disk fails with
  // "the state directory is full (...); free space and run again"; nothing committed before
  // is lost.
  Status Commit(CheckpointBatch* batch);

  // Sets *found and, when found, *value to the stored state of `key`.
  Status GetState(std::string_view resolver, std::string_view key, std::string* value, bool* found);
  // Calls `visit(key, stored_value)` for the keys of `resolver` in key order, until it returns
  // false.
  Status ScanStates(std::string_view resolver,
                    const std::function<bool(std::string_view, std::string_view)>& visit);
  // Deletes every state of `resolver` and its schema and counters (not its source positions).
  // NotFound, naming the resolvers that have state, when `resolver` has none stored.
  Status ResetResolver(std::string_view resolver);
  // How many keys of `resolver` have stored state; NotFound, naming the resolvers that have
  // state, when it has none stored (no schema, no key count).
  Status StoredKeyCount(std::string_view resolver, uint64_t* keys);

  Status GetMeta(std::string_view name, std::string* value, bool* found);
  // The directory's identity, "statefold-" and 32 random hex digits: made and committed the
  // first time it is asked for (the writer), the same for the directory's life after that.
  // Sources in a membership go by it (Source::SetInstanceId).
  Status InstanceId(std::string* id);
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
  // A RocksDB status as statefold's, with `what` in front of RocksDB's message; corruption
  // reads "the state directory is damaged", no space "the state directory is full".
  Status FromRocks(const rocksdb::Status& status, std::string_view what) const;
  // Fails when the directory or its LOCK file is no longer the one the writer opened.
  Status CheckDirectoryIsTheOneOpened() const;

  Options options_;
  std::string dir_;
  // The writer's directory and LOCK file as opened (device and inode of each).
  uint64_t dir_device_ = 0, dir_inode_ = 0, lock_device_ = 0, lock_inode_ = 0;
  std::shared_ptr<rocksdb::Logger> info_log_;
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
