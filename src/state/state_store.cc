// StateStore on RocksDB. The keys of each column family are in state/state_layout.h.

#include "state/state_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/metadata.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "state/dead_letter_record.h"
#include "state/state_layout.h"

namespace statefold {
namespace {

const char* const kFamilyNames[] = {rocksdb::kDefaultColumnFamilyName.c_str(), "state", "online",
                                    "dead_letters"};

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(std::string(what) + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(std::string(what) + ": " + s.ToString());
  return Status::IOError(std::string(what) + ": " + s.ToString());
}

std::string StateKey(std::string_view resolver, std::string_view key) {
  std::string k;
  k.reserve(resolver.size() + 1 + key.size());
  state_layout::AppendStateKey(resolver, key, &k);
  return k;
}

}  // namespace

CheckpointBatch::CheckpointBatch(StateStore* store)
    : store_(store), batch_(std::make_unique<rocksdb::WriteBatch>()) {}
CheckpointBatch::~CheckpointBatch() = default;

void CheckpointBatch::PutState(std::string_view resolver, std::string_view key,
                               std::string_view stored_value) {
  scratch_.clear();
  state_layout::AppendStateKey(resolver, key, &scratch_);
  batch_->Put(store_->state_, scratch_, rocksdb::Slice(stored_value.data(), stored_value.size()));
}

void CheckpointBatch::PutOnline(std::string_view key, std::string_view value) {
  batch_->Put(store_->online_, rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()));
}

void CheckpointBatch::PutDeadLetter(uint64_t sequence, const DeadLetter& letter) {
  scratch_.clear();
  AppendDeadLetterRecord(letter, &scratch_);
  batch_->Put(store_->dead_letters_, state_layout::DeadLetterKey(sequence), scratch_);
}

void CheckpointBatch::PutMeta(std::string_view name, std::string_view value) {
  batch_->Put(store_->meta_, rocksdb::Slice(name.data(), name.size()),
              rocksdb::Slice(value.data(), value.size()));
}

void CheckpointBatch::PutPositions(std::string_view source,
                                   const std::vector<SourcePosition>& positions) {
  for (const SourcePosition& p : positions) {
    PutMeta(state_layout::PositionKey(source, p.partition),
            std::to_string(p.next_offset) + " " + std::to_string(p.byte_position));
  }
}

Status StateStore::Open(const std::string& dir, const Options& options,
                        std::unique_ptr<StateStore>* store) {
  std::unique_ptr<StateStore> s(new StateStore());
  s->options_ = options;
  rocksdb::DBOptions db_options;
  const bool writer = options.mode == Mode::kReadWrite;
  db_options.create_if_missing = writer;
  db_options.create_missing_column_families = writer;
  db_options.max_background_jobs = 2;
  // One engine writes (one WriteBatch per checkpoint): plain memtable inserts, no CAS.
  db_options.allow_concurrent_memtable_write = false;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 2;

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions family_options;
  family_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  family_options.write_buffer_size = 64 << 20;
  family_options.compression = rocksdb::kLZ4Compression;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kFamilyNames) descriptors.emplace_back(name, family_options);

  rocksdb::DB* db = nullptr;
  rocksdb::Status status;
  if (!writer && !std::filesystem::exists(std::filesystem::path(dir) / "CURRENT")) {
    return Status::NotFound("no statefold state in " + dir + " (run `statefold run` first)");
  }
  if (options.mode == Mode::kReadOnly) {
    status = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &s->families_, &db);
  } else if (options.mode == Mode::kFollower) {
    std::string scratch =
        (std::filesystem::temp_directory_path() / "statefold-follower-XXXXXX").string();
    if (::mkdtemp(scratch.data()) == nullptr) return Status::IOError("cannot create " + scratch);
    s->follower_dir_ = scratch;
    db_options.max_open_files = -1;  // required by RocksDB secondary instances
    status =
        rocksdb::DB::OpenAsSecondary(db_options, dir, scratch, descriptors, &s->families_, &db);
  } else {
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
    status = rocksdb::DB::Open(db_options, dir, descriptors, &s->families_, &db);
  }
  if (!status.ok()) {
    if (status.IsIOError() && status.ToString().find("lock") != std::string::npos) {
      return Status::IOError("state directory " + dir +
                             " is in use by another statefold process: " + status.ToString());
    }
    return FromRocks(status, "cannot open state directory " + dir);
  }
  s->db_.reset(db);
  s->meta_ = s->families_[0];
  s->state_ = s->families_[1];
  s->online_ = s->families_[2];
  s->dead_letters_ = s->families_[3];
  if (options.mode == Mode::kFollower) s->newest_level0_file_ = s->NewestLevel0File();
  *store = std::move(s);
  return Status::Ok();
}

StateStore::~StateStore() {
  if (db_ != nullptr) {
    for (rocksdb::ColumnFamilyHandle* family : families_) db_->DestroyColumnFamilyHandle(family);
    db_.reset();
  }
  if (!follower_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(follower_dir_, ignored);
  }
}

Status StateStore::CatchUp(bool* must_reopen) {
  if (must_reopen != nullptr) *must_reopen = false;
  if (options_.mode != Mode::kFollower) return Status::Ok();
  STATEFOLD_RETURN_IF_ERROR(
      FromRocks(db_->TryCatchUpWithPrimary(), "cannot catch up with the writer"));
  uint64_t newest = NewestLevel0File();
  if (newest > newest_level0_file_) {
    newest_level0_file_ = newest;
    if (must_reopen != nullptr) *must_reopen = true;
  }
  return Status::Ok();
}

uint64_t StateStore::NewestLevel0File() const {
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  uint64_t newest = 0;
  for (const rocksdb::LiveFileMetaData& f : files) {
    if (f.level == 0) newest = std::max(newest, f.file_number);
  }
  return newest;
}

Status StateStore::Flush() {
  rocksdb::FlushOptions flush_options;
  return FromRocks(db_->Flush(flush_options, families_), "cannot flush");
}

Status StateStore::Commit(CheckpointBatch* batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  Status status = FromRocks(db_->Write(write_options, batch->batch_.get()), "checkpoint failed");
  batch->batch_->Clear();
  return status;
}

Status StateStore::GetState(std::string_view resolver, std::string_view key, std::string* value,
                            bool* found) {
  rocksdb::PinnableSlice slice;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), state_, StateKey(resolver, key), &slice);
  *found = s.ok();
  if (s.IsNotFound()) return Status::Ok();
  if (!s.ok()) return FromRocks(s, "cannot read state");
  value->assign(slice.data(), slice.size());
  return Status::Ok();
}

Status StateStore::Scan(rocksdb::ColumnFamilyHandle* family, std::string_view prefix,
                        const std::function<bool(std::string_view, std::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!visit(key, std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "cannot scan the store");
}

Status StateStore::ScanStates(
    std::string_view resolver,
    const std::function<bool(std::string_view, std::string_view)>& visit) {
  std::string prefix = StateKey(resolver, "");
  return Scan(state_, prefix, [&](std::string_view key, std::string_view value) {
    return visit(key.substr(prefix.size()), value);
  });
}

Status StateStore::ResetResolver(std::string_view resolver) {
  std::string begin = StateKey(resolver, "");
  std::string end = std::string(resolver) + '\1';
  rocksdb::WriteBatch batch;
  batch.DeleteRange(state_, begin, end);
  std::string schema_key = state_layout::SchemaKey(resolver);
  batch.Delete(meta_, schema_key);
  batch.DeleteRange(meta_, schema_key + "/", schema_key + "/\xff");
  batch.Delete(meta_, state_layout::KeyCountKey(resolver));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  return FromRocks(db_->Write(write_options, &batch), "cannot reset state");
}

Status StateStore::GetMeta(std::string_view name, std::string* value, bool* found) {
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_, rocksdb::Slice(name.data(), name.size()), value);
  *found = s.ok();
  if (s.IsNotFound()) return Status::Ok();
  return FromRocks(s, "cannot read metadata");
}

Status StateStore::GetPositions(std::string_view source, std::vector<SourcePosition>* positions) {
  positions->clear();
  std::string prefix = state_layout::PositionPrefix(source);
  return Scan(meta_, prefix, [&](std::string_view key, std::string_view value) {
    SourcePosition p;
    p.partition = std::stoi(std::string(key.substr(prefix.size())));
    std::string text(value);
    size_t space = text.find(' ');
    p.next_offset = std::stoll(text.substr(0, space));
    p.byte_position = space == std::string::npos ? 0 : std::stoll(text.substr(space + 1));
    positions->push_back(p);
    return true;
  });
}

Status StateStore::ScanOnline(
    std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
  return Scan(online_, prefix, visit);
}

Status StateStore::ScanDeadLetters(const std::function<bool(uint64_t, std::string_view)>& visit) {
  return Scan(dead_letters_, "", [&](std::string_view key, std::string_view value) {
    return visit(state_layout::DeadLetterSequence(key), value);
  });
}

}  // namespace statefold
