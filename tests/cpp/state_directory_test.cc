// The rules of a state directory as StateStore keeps them (docs/operations.md, The state
// directory): a damaged directory is refused by every mode alike and left as it was, never
// re-created; only the engine's writer creates a directory, and only where none is; a
// checkpoint into a directory deleted or replaced under the writer fails; a full disk is an
// error, not an abort, and loses nothing committed.

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scratch_dir.h"
#include "state/state_follower.h"
#include "state/state_layout.h"
#include "state/state_store.h"
#include "temp_state_dir.h"

namespace statefold {
namespace {

namespace fs = std::filesystem;
using namespace std::string_view_literals;

constexpr StateStore::Mode kModes[] = {StateStore::Mode::kReadWrite, StateStore::Mode::kReadOnly,
                                       StateStore::Mode::kFollower};

const char* ModeName(StateStore::Mode mode) {
  switch (mode) {
    case StateStore::Mode::kReadWrite:
      return "writer";
    case StateStore::Mode::kReadOnly:
      return "read-only";
    case StateStore::Mode::kFollower:
      return "follower";
  }
  return "?";
}

// Opens `dir` in `mode`; a follower as every reader that follows opens it, through a
// StateFollower.
Status OpenIn(const std::string& dir, StateStore::Mode mode, std::unique_ptr<StateStore>* store,
              bool create_if_missing = true) {
  store->reset();
  if (mode == StateStore::Mode::kFollower) {
    StateFollower follower(dir);
    return follower.Open();  // the store is the follower's, closed with it
  }
  StateStore::Options options;
  options.mode = mode;
  options.create_if_missing = create_if_missing;
  return StateStore::Open(dir, options, store);
}

// Every file of `dir`, with its size and a hash of its bytes, to show that a refused open
// changed nothing.
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    files[entry.path().filename().string()] = std::to_string(bytes.size()) + " bytes, hash " +
                                              std::to_string(std::hash<std::string>()(bytes));
  }
  return files;
}

std::string ManifestName(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "CURRENT");
  std::string name;
  std::getline(in, name);
  return name;
}

class StateDirectoryTest : public ::testing::Test {
 protected:
  // A directory with data in every column family, in table files and in the log.
  void MakeStateDirectory() {
    std::unique_ptr<StateStore> store;
    ASSERT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store).ok());
    CheckpointBatch batch(store.get());
    batch.PutState("r", "u1", "state");
    batch.PutMeta(state_layout::SchemaKey("r"), "{schema}");
    batch.PutOnline("user\0u1\0count"sv, "value");
    DeadLetter letter;
    letter.source = "logins";
    letter.error = "bad";
    batch.PutDeadLetter(0, letter);
    batch.PutPositions("logins", {{0, 1, 10}});
    ASSERT_TRUE(store->Commit(&batch).ok());
    ASSERT_TRUE(store->Flush().ok());
    batch.PutState("r", "u2", "state");
    ASSERT_TRUE(store->Commit(&batch).ok());
  }

  // Every mode refuses the directory with the damaged message naming `reason`, and leaves
  // every file as it was.
  void ExpectRefusedAsDamaged(std::string_view reason) {
    const std::map<std::string, std::string> before = Files(dir());
    for (StateStore::Mode mode : kModes) {
      std::unique_ptr<StateStore> store;
      Status status = OpenIn(dir(), mode, &store);
      EXPECT_EQ(status.code(), Status::Code::kCorruption)
          << ModeName(mode) << ": " << status.ToString();
      EXPECT_EQ(status.message().rfind("the state directory is damaged: ", 0), 0u)
          << ModeName(mode) << ": " << status.message();
      EXPECT_NE(status.message().find(reason), std::string::npos)
          << ModeName(mode) << ": " << status.message();
      EXPECT_NE(status.message().find("restore it from a backup, or remove it to start over"),
                std::string::npos)
          << status.message();
      EXPECT_EQ(store, nullptr);
    }
    EXPECT_EQ(Files(dir()), before) << "a refused open changed the directory";
  }

  std::string dir() const { return scratch_ / "state"; }

  ScratchDir scratch_{"statefold-state-directory-test"};
};

TEST_F(StateDirectoryTest, ADamagedStateDirectoryIsRefusedNotRecreated_TruncatedManifest) {
  MakeStateDirectory();
  const fs::path manifest = fs::path(dir()) / ManifestName(dir());
  // Cut the MANIFEST back to where it names only some of the column families: what RocksDB
  // then reads is a database without them, and a writer would have created them empty.
  bool tried = false;
  const uintmax_t size = fs::file_size(manifest);
  for (uintmax_t cut = size - 1; cut > 0; --cut) {
    fs::resize_file(manifest, cut);
    std::unique_ptr<StateStore> store;
    Status status = OpenIn(dir(), StateStore::Mode::kReadOnly, &store);
    if (status.ok()) continue;  // the cut dropped only later edits (a flush)
    if (status.message().find("names no column family") == std::string::npos) continue;
    tried = true;
    ExpectRefusedAsDamaged("MANIFEST names no column family");
    break;
  }
  EXPECT_TRUE(tried) << "no cut of the MANIFEST lost a column family";
}

TEST_F(StateDirectoryTest, ADamagedStateDirectoryIsRefusedNotRecreated_MissingCurrent) {
  MakeStateDirectory();
  fs::remove(fs::path(dir()) / "CURRENT");
  ExpectRefusedAsDamaged("its CURRENT file is missing");
}

TEST_F(StateDirectoryTest, ADamagedStateDirectoryIsRefusedNotRecreated_CurrentNamesNoManifest) {
  MakeStateDirectory();
  fs::remove(fs::path(dir()) / ManifestName(dir()));
  ExpectRefusedAsDamaged("the MANIFEST it names does not read");
}

TEST_F(StateDirectoryTest, ADamagedStateDirectoryIsRefusedNotRecreated_GarbledCurrent) {
  MakeStateDirectory();
  std::ofstream(fs::path(dir()) / "CURRENT", std::ios::trunc) << "garbage";
  ExpectRefusedAsDamaged("the MANIFEST it names does not read");
}

TEST_F(StateDirectoryTest, ADamagedStateDirectoryIsRefusedNotRecreated_MissingTableFile) {
  MakeStateDirectory();
  bool removed = false;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir())) {
    if (entry.path().extension() == ".sst" && !removed) removed = fs::remove(entry.path());
  }
  ASSERT_TRUE(removed);
  ExpectRefusedAsDamaged("No such file or directory: While open a file for random read");
}

TEST_F(StateDirectoryTest, OnlyTheEnginesWriterCreatesADirectoryAndOnlyWhereThereIsNone) {
  // Without create_if_missing (`state reset`) and in the readers' modes: NotFound, nothing made.
  for (StateStore::Mode mode : kModes) {
    std::unique_ptr<StateStore> store;
    Status status = OpenIn(dir(), mode, &store, /*create_if_missing=*/false);
    EXPECT_TRUE(status.IsNotFound()) << ModeName(mode) << ": " << status.ToString();
    EXPECT_NE(status.message().find("no statefold state in " + dir()), std::string::npos);
    EXPECT_FALSE(fs::exists(dir())) << ModeName(mode);
  }
  // An empty directory is new too.
  fs::create_directories(dir());
  std::unique_ptr<StateStore> store;
  EXPECT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store, false).IsNotFound());
  EXPECT_TRUE(fs::is_empty(dir()));
  ASSERT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store).ok());
  EXPECT_TRUE(fs::exists(fs::path(dir()) / "CURRENT"));
  store.reset();
  // A directory of other files is no state directory, for the writer too.
  const std::string other = scratch_ / "other";
  fs::create_directories(other);
  std::ofstream(fs::path(other) / "notes.txt") << "mine";
  for (StateStore::Mode mode : kModes) {
    Status status = OpenIn(other, mode, &store);
    EXPECT_TRUE(status.IsInvalidArgument()) << ModeName(mode) << ": " << status.ToString();
    EXPECT_NE(status.message().find("holds other files (such as notes.txt)"), std::string::npos)
        << status.message();
  }
  ASSERT_EQ(Files(other).size(), 1u);
  EXPECT_EQ(Files(other).begin()->first, "notes.txt");
}

TEST_F(StateDirectoryTest, ACheckpointFailsWhenItsDirectoryWasDeleted) {
  std::unique_ptr<StateStore> store;
  ASSERT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store).ok());
  CheckpointBatch batch(store.get());
  batch.PutState("r", "u1", "1");
  ASSERT_TRUE(store->Commit(&batch).ok());
  fs::remove_all(dir());
  batch.PutState("r", "u1", "2");
  Status status = store->Commit(&batch);
  EXPECT_EQ(status.code(), Status::Code::kIOError) << status.ToString();
  EXPECT_NE(status.message().find("the state directory " + dir() + " was deleted or replaced"),
            std::string::npos)
      << status.message();
  EXPECT_FALSE(fs::exists(dir()));
}

TEST_F(StateDirectoryTest, ACheckpointFailsWhenItsDirectoryWasReplaced) {
  std::unique_ptr<StateStore> store;
  ASSERT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store).ok());
  CheckpointBatch batch(store.get());
  batch.PutState("r", "u1", "1");
  ASSERT_TRUE(store->Commit(&batch).ok());
  fs::rename(dir(), scratch_ / "moved");
  fs::create_directories(dir());
  Status status = store->Commit(&batch);
  EXPECT_NE(status.message().find("was deleted or replaced"), std::string::npos)
      << status.ToString();
  EXPECT_TRUE(fs::is_empty(dir()));
}

TEST_F(StateDirectoryTest, ACheckpointFailsWhenItsLockFileIsGone) {
  std::unique_ptr<StateStore> store;
  ASSERT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store).ok());
  fs::remove(fs::path(dir()) / "LOCK");
  CheckpointBatch batch(store.get());
  batch.PutState("r", "u1", "1");
  Status status = store->Commit(&batch);
  EXPECT_EQ(status.code(), Status::Code::kIOError) << status.ToString();
  EXPECT_NE(status.message().find("its LOCK file was deleted or replaced"), std::string::npos)
      << status.message();
}

// A file system whose disk fills up on request: every append then fails with ENOSPC's status.
class FillingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FillingFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "FillingFileSystem"; }
  const char* Name() const override { return kClassName(); }

  std::atomic<bool> full{false};

  rocksdb::IOStatus GetFreeSpace(const std::string& path, const rocksdb::IOOptions& options,
                                 uint64_t* space, rocksdb::IODebugContext* debug) override {
    if (!full) return FileSystemWrapper::GetFreeSpace(path, options, space, debug);
    *space = 0;  // RocksDB's recovery then waits for space, logging that it cannot recover
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    if (full) return rocksdb::IOStatus::NoSpace("No space left on device", name);
    std::unique_ptr<rocksdb::FSWritableFile> target;
    rocksdb::IOStatus s = FileSystemWrapper::NewWritableFile(name, options, &target, debug);
    if (s.ok()) file->reset(new File(std::move(target), this));
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& target, FillingFileSystem* fs)
        : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      if (fs_->full) return rocksdb::IOStatus::NoSpace("No space left on device");
      return FSWritableFileOwnerWrapper::Append(data, options, debug);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* debug) override {
      if (fs_->full) return rocksdb::IOStatus::NoSpace("No space left on device");
      return FSWritableFileOwnerWrapper::Append(data, options, info, debug);
    }

   private:
    FillingFileSystem* fs_;
  };
};

TEST_F(StateDirectoryTest, AFullDiskFailsTheCheckpointWithoutAbortingAndLosesNothing) {
  auto filling = std::make_shared<FillingFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(filling);
  StateStore::Options options = testing::WriterOptions();
  options.env = env.get();
  {
    std::unique_ptr<StateStore> store;
    ASSERT_TRUE(StateStore::Open(dir(), options, &store).ok());
    CheckpointBatch batch(store.get());
    batch.PutState("r", "u1", "committed");
    batch.PutPositions("logins", {{0, 1, 10}});
    ASSERT_TRUE(store->Commit(&batch).ok());
    filling->full = true;
    // A flush of the memtables that finds the disk full (as one falls due in a long run), then
    // checkpoints. (RocksDB logs each failure; its own info log aborted the process at the
    // first line after one it could not write, seconds later on a real disk: the tmpfs test
    // test_a_full_disk_stops_the_run_with_exit_2_and_loses_nothing reproduces that.)
    Status flushed = store->Flush();
    EXPECT_EQ(flushed.message().rfind("the state directory is full (" + dir() + ": ", 0), 0u)
        << flushed.ToString();
    for (int i = 0; i < 3; ++i) {
      batch.PutState("r", "u1", "lost " + std::to_string(i));
      batch.PutPositions("logins", {{0, 2 + i, 20}});
      Status status = store->Commit(&batch);
      EXPECT_EQ(status.code(), Status::Code::kIOError) << status.ToString();
      EXPECT_EQ(status.message().rfind("the state directory is full (" + dir() + ": ", 0), 0u)
          << status.message();
      EXPECT_NE(status.message().find("); free space and run again"), std::string::npos)
          << status.message();
    }
  }  // closing on a full disk does not abort either
  filling->full = false;
  std::unique_ptr<StateStore> store;
  ASSERT_TRUE(StateStore::Open(dir(), testing::WriterOptions(), &store).ok());
  std::string value;
  bool found = false;
  ASSERT_TRUE(store->GetState("r", "u1", &value, &found).ok());
  EXPECT_EQ(value, "committed");
  std::vector<SourcePosition> positions;
  ASSERT_TRUE(store->GetPositions("logins", &positions).ok());
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0].next_offset, 1);
}

TEST_F(StateDirectoryTest, AFullDiskAtCreationIsTheSameErrorAndLeavesNoDatabase) {
  auto filling = std::make_shared<FillingFileSystem>();
  filling->full = true;
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(filling);
  StateStore::Options options = testing::WriterOptions();
  options.env = env.get();
  std::unique_ptr<StateStore> store;
  Status status = StateStore::Open(dir(), options, &store);
  EXPECT_EQ(status.message().rfind("the state directory is full (" + dir() + ": ", 0), 0u)
      << status.ToString();
  // What the failed creation left is still a new directory: readers find no state, and the
  // next writer creates it.
  EXPECT_TRUE(OpenIn(dir(), StateStore::Mode::kReadOnly, &store).IsNotFound());
  ASSERT_TRUE(OpenIn(dir(), StateStore::Mode::kReadWrite, &store).ok());
}

}  // namespace
}  // namespace statefold
