// StateStore on RocksDB. The keys of each column family are in state/state_layout.h.

#include "state/state_store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/metadata.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdarg>
#include <filesystem>
#include <mutex>
#include <random>

#include "state/dead_letter_record.h"
#include "state/state_layout.h"

namespace statefold {
namespace {

namespace fs = std::filesystem;

const char* const kFamilyNames[] = {rocksdb::kDefaultColumnFamilyName.c_str(), "state", "online",
                                    "dead_letters"};

// The one message of a damaged state directory, whichever mode found it. `where` is the
// directory or the file at fault.
Status Damaged(const std::string& where, std::string_view reason) {
  return Status::Corruption("the state directory is damaged: " + std::string(reason) + " (" +
                            where +
                            "); restore it from a backup, or remove it to start over (its "
                            "state, feature values and dead letters are lost then)");
}

Status Full(const std::string& dir, std::string_view reason) {
  return Status::IOError("the state directory is full (" + dir + ": " + std::string(reason) +
                         "); free space and run again");
}

// A RocksDB status met in `dir` as statefold's.
Status MapRocks(const rocksdb::Status& s, const std::string& dir, std::string_view what) {
  if (s.ok()) return Status::Ok();
  // A file that the database names is gone, or one that does not read: the same damage.
  if (s.IsCorruption() || s.IsPathNotFound())
    return Damaged(dir, std::string(what) + ": " + s.ToString());
  if (s.IsNoSpace()) return Full(dir, s.ToString());
  if (s.IsNotFound()) return Status::NotFound(std::string(what) + ": " + s.ToString());
  return Status::IOError(std::string(what) + ": " + s.ToString());
}

// RocksDB's info log (warnings and errors), written by statefold rather than by RocksDB's own
// file writer. RocksDB 7.8's writer asserts when it is used again after a failed write, so on
// a full disk its second LOG line aborted the process; this one drops a line it cannot write.
// The writer's lines wait in memory until its open succeeded (Start): a refused open leaves
// the directory as it was. Readers never start theirs: they never write into the directory.
class InfoLog : public rocksdb::Logger {
 public:
  explicit InfoLog(bool buffer)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), buffer_(buffer) {}
  ~InfoLog() override {
    if (file_ != nullptr) ::fclose(file_);
  }

  // Appends what was logged so far, and from now on every line, to `dir`/LOG (which keeps one
  // older generation, LOG.old, once it grew large).
  void Start(const std::string& dir) {
    const fs::path log = fs::path(dir) / "LOG";
    std::error_code ec;
    if (fs::file_size(log, ec) > (4u << 20) && !ec) fs::rename(log, fs::path(dir) / "LOG.old", ec);
    std::lock_guard<std::mutex> lock(mutex_);
    file_ = ::fopen(log.c_str(), "a");
    Write(pending_);
    pending_.clear();
    buffer_ = false;
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[2048];
    const time_t now = ::time(nullptr);
    struct tm utc;
    ::gmtime_r(&now, &utc);
    size_t n = ::strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &utc);
    const int written = ::vsnprintf(line + n, sizeof(line) - n - 1, format, ap);
    if (written > 0) n = std::min(sizeof(line) - 2, n + static_cast<size_t>(written));
    line[n++] = '\n';
    std::lock_guard<std::mutex> lock(mutex_);
    if (buffer_) {
      if (pending_.size() < (64u << 10)) pending_.append(line, n);
    } else {
      Write(std::string_view(line, n));
    }
  }

 private:
  // A line that does not fit on the disk is dropped: the write's own status reports it.
  void Write(std::string_view text) {
    if (file_ == nullptr || text.empty()) return;
    if (::fwrite(text.data(), 1, text.size(), file_) != text.size() || ::fflush(file_) != 0) {
      ::clearerr(file_);
    }
  }

  std::mutex mutex_;
  bool buffer_;
  std::string pending_;   // before Start
  FILE* file_ = nullptr;  // after Start
};

bool IsTableOrLogFile(const fs::path& file) {
  const std::string extension = file.extension().string();
  return extension == ".sst" || extension == ".log" || extension == ".blob";
}

// What Open finds in `dir` before RocksDB opens it: whether it holds no database yet
// (`*brand_new`: it does not exist, is empty, or a creation stopped before anything was
// stored), else the column families its MANIFEST names. Fails on a directory whose database is
// damaged or that holds something other than a state directory.
Status InspectDirectory(const std::string& dir, const rocksdb::DBOptions& db_options,
                        bool* brand_new, std::vector<std::string>* families) {
  *brand_new = false;
  families->clear();
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (status.type() == fs::file_type::not_found) {
    *brand_new = true;
    return Status::Ok();
  }
  if (ec) return Status::IOError("cannot read state directory " + dir + ": " + ec.message());
  if (status.type() != fs::file_type::directory) {
    return Status::InvalidArgument("state directory " + dir + " is not a directory");
  }
  bool has_current = false;
  std::vector<std::string> stored, others;  // files with data; files that are not RocksDB's
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "CURRENT") {
      has_current = true;
    } else if (IsTableOrLogFile(entry.path())) {
      std::error_code size_error;
      if (entry.file_size(size_error) > 0) stored.push_back(name);
    } else if (name != "IDENTITY" && name != "LOCK" && name.rfind("LOG", 0) != 0 &&
               name.rfind("MANIFEST-", 0) != 0 && name.rfind("OPTIONS-", 0) != 0 &&
               entry.path().extension() != ".dbtmp") {
      others.push_back(name);
    }
  }
  if (ec) return Status::IOError("cannot list state directory " + dir + ": " + ec.message());
  if (!has_current) {
    if (!stored.empty()) {
      return Damaged(
          (fs::path(dir) / "CURRENT").string(),
          "its CURRENT file is missing, though it holds stored data (" + stored[0] +
              (stored.size() > 1 ? " and " + std::to_string(stored.size() - 1) + " more files"
                                 : std::string()) +
              ")");
    }
    if (!others.empty()) {
      return Status::InvalidArgument("state directory " + dir + " holds other files (such as " +
                                     others[0] +
                                     ") and no statefold state: name a new or empty directory");
    }
    *brand_new = true;  // empty, or a creation that stopped before its first write
    return Status::Ok();
  }
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(db_options, dir, families);
  if (!listed.ok()) {
    if (listed.IsNoSpace()) return Full(dir, listed.ToString());
    if (listed.IsIOError() && !listed.IsPathNotFound()) {
      return Status::IOError("cannot read state directory " + dir + ": " + listed.ToString());
    }
    return Damaged(dir,
                   "its CURRENT file or the MANIFEST it names does not read: " + listed.ToString());
  }
  return Status::Ok();
}

// Whether a database with column families `families` holds nothing at all: a creation that
// stopped between creating its column families. (A directory with table files never is.)
Status HoldsNothing(const std::string& dir, const rocksdb::DBOptions& db_options,
                    const std::vector<std::string>& families, bool* nothing) {
  *nothing = false;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".sst") return Status::Ok();
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : families)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &handles, &raw);
  if (!s.ok()) return MapRocks(s, dir, "cannot open state directory " + dir);
  std::unique_ptr<rocksdb::DB> db(raw);
  bool empty = true;
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handle));
    it->SeekToFirst();
    if (it->Valid() || !it->status().ok()) empty = false;
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
  *nothing = empty;
  return Status::Ok();
}

bool StatIdentity(const std::string& path, uint64_t* device, uint64_t* inode) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  *device = static_cast<uint64_t>(st.st_dev);
  *inode = static_cast<uint64_t>(st.st_ino);
  return true;
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
  s->dir_ = dir;
  rocksdb::DBOptions db_options;
  const bool writer = options.mode == Mode::kReadWrite;
  if (options.env != nullptr) db_options.env = options.env;
  db_options.max_background_jobs = 2;
  // One engine writes (one WriteBatch per checkpoint): plain memtable inserts, no CAS.
  db_options.allow_concurrent_memtable_write = false;
  auto info_log = std::make_shared<InfoLog>(/*buffer=*/writer);
  s->info_log_ = info_log;
  db_options.info_log = info_log;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;

  bool brand_new = false;
  std::vector<std::string> families;
  STATEFOLD_RETURN_IF_ERROR(InspectDirectory(dir, db_options, &brand_new, &families));
  bool create_families = false;
  if (!brand_new) {
    std::vector<std::string> missing, unknown;
    for (const char* name : kFamilyNames) {
      if (std::find(families.begin(), families.end(), name) == families.end()) {
        missing.push_back(name);
      }
    }
    for (const std::string& name : families) {
      if (std::find_if(std::begin(kFamilyNames), std::end(kFamilyNames),
                       [&](const char* n) { return name == n; }) == std::end(kFamilyNames)) {
        unknown.push_back(name);
      }
    }
    if (!unknown.empty()) {
      return Status::InvalidArgument("state directory " + dir +
                                     " holds a database that is not statefold's (column family " +
                                     unknown[0] + "): name a new or empty directory");
    }
    if (!missing.empty()) {
      bool nothing = false;
      STATEFOLD_RETURN_IF_ERROR(HoldsNothing(dir, db_options, families, &nothing));
      if (!nothing) {
        std::string names;
        for (const std::string& name : missing) names += (names.empty() ? "" : ", ") + name;
        return Damaged(dir, "its MANIFEST names no column family " + names +
                                ", though the database holds data");
      }
      brand_new = true;  // a creation that stopped between its column families
      create_families = true;
    }
  }
  if (brand_new && !(writer && options.create_if_missing)) {
    return Status::NotFound("no statefold state in " + dir + " (run `statefold run` first)");
  }
  if (writer) {
    db_options.create_if_missing = brand_new;
    db_options.create_missing_column_families = create_families || brand_new;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      if (ec == std::errc::no_space_on_device) return Full(dir, ec.message());
      return Status::IOError("cannot create state directory " + dir + ": " + ec.message());
    }
  }

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
  if (options.mode == Mode::kReadOnly) {
    status = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &s->families_, &db);
  } else if (options.mode == Mode::kFollower) {
    std::string scratch = (fs::temp_directory_path() / "statefold-follower-XXXXXX").string();
    if (::mkdtemp(scratch.data()) == nullptr) return Status::IOError("cannot create " + scratch);
    s->follower_dir_ = scratch;
    db_options.max_open_files = -1;  // required by RocksDB secondary instances
    status =
        rocksdb::DB::OpenAsSecondary(db_options, dir, scratch, descriptors, &s->families_, &db);
  } else {
    status = rocksdb::DB::Open(db_options, dir, descriptors, &s->families_, &db);
  }
  if (!status.ok()) {
    if (status.IsIOError() && status.ToString().find("lock") != std::string::npos) {
      return Status::IOError("state directory " + dir +
                             " is in use by another statefold process: " + status.ToString());
    }
    return MapRocks(status, dir, "cannot open state directory " + dir);
  }
  s->db_.reset(db);
  s->meta_ = s->families_[0];
  s->state_ = s->families_[1];
  s->online_ = s->families_[2];
  s->dead_letters_ = s->families_[3];
  if (options.mode == Mode::kFollower) s->newest_level0_file_ = s->NewestLevel0File();
  if (writer) info_log->Start(dir);
  if (writer &&
      (!StatIdentity(dir, &s->dir_device_, &s->dir_inode_) ||
       !StatIdentity((fs::path(dir) / "LOCK").string(), &s->lock_device_, &s->lock_inode_))) {
    return Status::IOError("state directory " + dir + " disappeared while it was opened");
  }
  *store = std::move(s);
  return Status::Ok();
}

Status StateStore::FromRocks(const rocksdb::Status& status, std::string_view what) const {
  return MapRocks(status, dir_, what);
}

Status StateStore::CheckDirectoryIsTheOneOpened() const {
  if (dir_inode_ == 0) return Status::Ok();  // not the writer
  uint64_t device, inode;
  const bool dir_same =
      StatIdentity(dir_, &device, &inode) && device == dir_device_ && inode == dir_inode_;
  const bool lock_same = dir_same &&
                         StatIdentity((fs::path(dir_) / "LOCK").string(), &device, &inode) &&
                         device == lock_device_ && inode == lock_inode_;
  if (lock_same) return Status::Ok();
  return Status::IOError(
      "the state directory " + dir_ + " was " +
      (dir_same ? "changed (its LOCK file was deleted or replaced)" : "deleted or replaced") +
      " while this run was writing to it: the checkpoint is not stored, nor anything this run "
      "committed before into a deleted directory. Find what removes it, then run again (a "
      "missing directory starts over from the beginning of the input)");
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
  // Before the write, and after it: a directory deleted during the write took it along.
  Status status = CheckDirectoryIsTheOneOpened();
  if (status.ok()) {
    status = FromRocks(db_->Write(write_options, batch->batch_.get()), "checkpoint failed");
  }
  if (status.ok()) status = CheckDirectoryIsTheOneOpened();
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

Status StateStore::StoredKeyCount(std::string_view resolver, uint64_t* keys) {
  std::string value;
  bool found;
  STATEFOLD_RETURN_IF_ERROR(GetMeta(state_layout::SchemaKey(resolver), &value, &found));
  if (!found) {
    std::string names;
    const std::string prefix = state_layout::SchemaKey("");
    STATEFOLD_RETURN_IF_ERROR(Scan(meta_, prefix, [&](std::string_view key, std::string_view) {
      std::string_view name = key.substr(prefix.size());
      if (name.find('/') == std::string_view::npos) {
        names += (names.empty() ? "" : ", ") + std::string(name);
      }
      return true;
    }));
    return Status::NotFound(
        "resolver " + std::string(resolver) + " has no stored state in " + dir_ +
        (names.empty() ? " (no resolver has)" : " (resolvers with stored state: " + names + ")"));
  }
  STATEFOLD_RETURN_IF_ERROR(GetMeta(state_layout::KeyCountKey(resolver), &value, &found));
  *keys = found ? std::stoull(value) : 0;
  return Status::Ok();
}

Status StateStore::ResetResolver(std::string_view resolver) {
  uint64_t keys;
  STATEFOLD_RETURN_IF_ERROR(StoredKeyCount(resolver, &keys));
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

Status StateStore::InstanceId(std::string* id) {
  bool found = false;
  STATEFOLD_RETURN_IF_ERROR(GetMeta(state_layout::kInstanceIdKey, id, &found));
  if (found) return Status::Ok();
  std::random_device random;
  *id = "statefold-";
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) id->push_back(kHex[random() & 15]);
  CheckpointBatch batch(this);
  batch.PutMeta(state_layout::kInstanceIdKey, *id);
  return Commit(&batch);
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
