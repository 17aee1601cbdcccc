// A follower of a state directory (StateStore::Mode::kFollower; StateFollower and its
// generations, which the feature server and the StateInspector behind Client(state_dir) use)
// sees what the writer commits, including values that the writer flushed to table files before
// the follower read them from its log: point reads (metadata, state) as well as scans
// (features).

#include "state/state_follower.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "inspect/state_inspector.h"
#include "online/online_store.h"
#include "state/run_status.h"
#include "state/state_layout.h"
#include "state/state_store.h"
#include "temp_state_dir.h"

namespace statefold {
namespace {

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("statefold-follower-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(StateStore::Open(dir_, testing::WriterOptions(), &writer_).ok());
    online_ = NewEmbeddedOnlineStore(writer_.get());
  }
  void TearDown() override {
    online_.reset();
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A checkpoint with a feature value and a run status record counting as many messages,
  // both `value`.
  void Commit(std::string_view value, int64_t offset) {
    CheckpointBatch batch(writer_.get());
    FeatureValue write{"user", "u1", "count", value, 1000 + offset, offset};
    ASSERT_TRUE(online_->Write({&write, 1}, &batch).ok());
    RunStatus run_status;
    run_status.messages = std::stoull(std::string(value));
    batch.PutMeta(state_layout::kRunStatusKey, run_status.ToJson());
    ASSERT_TRUE(writer_->Commit(&batch).ok());
  }

  // The feature value and the status record a follower reads, e.g. "2 2".
  static std::string Read(StateInspector* inspector) {
    std::vector<StoredFeature> features;
    RunStatus run_status;
    Status status = inspector->Features("user", "u1", &features);
    if (status.ok()) status = inspector->ReadRunStatus(&run_status);
    return status.ok() ? features.at(0).value_json + " " + std::to_string(run_status.messages)
                       : status.ToString();
  }

  // The messages of the run status record `store` reads, or its error.
  static std::string Messages(StateStore* store) {
    std::string json;
    bool found = false;
    Status status = store->GetMeta(state_layout::kRunStatusKey, &json, &found);
    if (!status.ok()) return status.ToString();
    if (!found) return "no record";
    RunStatus run_status;
    status = RunStatus::Parse(json, &run_status);
    return status.ok() ? std::to_string(run_status.messages) : status.ToString();
  }

  std::string dir_;
  std::unique_ptr<StateStore> writer_;
  std::unique_ptr<OnlineStore> online_;
};

TEST_F(FollowerTest, SeesEachCommitAfterCatchingUp) {
  Commit("1", 0);
  std::unique_ptr<StateInspector> follower;
  ASSERT_TRUE(StateInspector::Open(dir_, true, &follower).ok());
  EXPECT_EQ(Read(follower.get()), "1 1");
  Commit("2", 1);
  EXPECT_EQ(Read(follower.get()), "1 1");  // until it catches up
  ASSERT_TRUE(follower->Refresh().ok());
  EXPECT_EQ(Read(follower.get()), "2 2");
}

TEST_F(FollowerTest, SeesValuesTheWriterFlushedBeforeTheFollowerReadThem) {
  Commit("1", 0);
  std::unique_ptr<StateInspector> follower;
  ASSERT_TRUE(StateInspector::Open(dir_, true, &follower).ok());
  ASSERT_TRUE(follower->Refresh().ok());
  EXPECT_EQ(Read(follower.get()), "1 1");  // from the follower's own memtables
  // The writer commits and flushes, and deletes the log, before the follower reads it.
  Commit("2", 1);
  ASSERT_TRUE(writer_->Flush().ok());
  ASSERT_TRUE(follower->Refresh().ok());
  EXPECT_EQ(Read(follower.get()), "2 2");
  Commit("3", 2);
  ASSERT_TRUE(follower->Refresh().ok());
  EXPECT_EQ(Read(follower.get()), "3 3");
}

TEST_F(FollowerTest, ASnapshotInspectorDoesNotMove) {
  Commit("1", 0);
  std::unique_ptr<StateInspector> snapshot;
  ASSERT_TRUE(StateInspector::Open(dir_, false, &snapshot).ok());
  Commit("2", 1);
  ASSERT_TRUE(snapshot->Refresh().ok());
  EXPECT_EQ(Read(snapshot.get()), "1 1");
}

TEST_F(FollowerTest, StateFollowerHasNoGenerationBeforeTheDirectoryHasState) {
  StateFollower follower(dir_ + "-not-yet");
  EXPECT_TRUE(follower.Open().IsNotFound());
  EXPECT_TRUE(follower.CatchUp().IsNotFound());
  EXPECT_EQ(follower.generation(), 0u);
  uint64_t generation = 99;
  EXPECT_EQ(follower.Current(&generation), nullptr);
  EXPECT_EQ(generation, 0u);
  StateFollower::Reader reader(&follower);
  EXPECT_FALSE(reader.MoveToNewest());
  EXPECT_EQ(reader.store(), nullptr);
}

TEST_F(FollowerTest, StateFollowerCatchUpOpensTheDirectoryOnceItExists) {
  Commit("1", 0);
  StateFollower follower(dir_);
  bool new_generation = false;
  ASSERT_TRUE(follower.CatchUp(&new_generation).ok());
  EXPECT_TRUE(new_generation);
  EXPECT_EQ(follower.generation(), 1u);
  StateFollower::Reader reader(&follower);
  EXPECT_TRUE(reader.MoveToNewest());
  EXPECT_EQ(Messages(reader.store()), "1");
}

TEST_F(FollowerTest, StateFollowerStartsAGenerationOnlyAfterAFlush) {
  Commit("1", 0);
  StateFollower follower(dir_);
  ASSERT_TRUE(follower.Open().ok());
  StateFollower::Reader reader(&follower);
  ASSERT_TRUE(reader.MoveToNewest());
  StateStore* first = reader.store();
  Commit("2", 1);
  bool new_generation = true;
  ASSERT_TRUE(follower.CatchUp(&new_generation).ok());
  EXPECT_FALSE(new_generation);
  EXPECT_FALSE(reader.MoveToNewest());  // one generation, caught up in place
  EXPECT_EQ(reader.store(), first);
  EXPECT_EQ(Messages(reader.store()), "2");

  Commit("3", 2);
  ASSERT_TRUE(writer_->Flush().ok());
  ASSERT_TRUE(follower.CatchUp(&new_generation).ok());
  EXPECT_TRUE(new_generation);
  EXPECT_EQ(follower.generation(), 2u);
  EXPECT_TRUE(reader.MoveToNewest());
  EXPECT_NE(reader.store(), first);
  EXPECT_EQ(Messages(reader.store()), "3");
}

TEST_F(FollowerTest, AnOldGenerationLivesUntilItsLastReaderMoves) {
  Commit("1", 0);
  StateFollower follower(dir_);
  ASSERT_TRUE(follower.Open().ok());
  StateFollower::Reader slow(&follower), fast(&follower);
  ASSERT_TRUE(slow.MoveToNewest());
  ASSERT_TRUE(fast.MoveToNewest());
  uint64_t generation;
  std::weak_ptr<StateStore> first = follower.Current(&generation);
  EXPECT_EQ(generation, 1u);

  Commit("2", 1);
  ASSERT_TRUE(writer_->Flush().ok());
  ASSERT_TRUE(follower.CatchUp().ok());
  ASSERT_EQ(follower.generation(), 2u);
  ASSERT_TRUE(fast.MoveToNewest());
  EXPECT_EQ(Messages(fast.store()), "2");
  // `slow` has not moved: its generation is still open and still answers, with the flushed
  // value or the one before it (which is why a flush starts a generation).
  ASSERT_FALSE(first.expired());
  EXPECT_EQ(slow.store(), first.lock().get());
  std::string old = Messages(slow.store());
  EXPECT_TRUE(old == "1" || old == "2") << old;
  ASSERT_TRUE(slow.MoveToNewest());
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(Messages(slow.store()), "2");
}

TEST_F(FollowerTest, CatchUpReportsAFlush) {
  Commit("1", 0);
  StateStore::Options options;
  options.mode = StateStore::Mode::kFollower;
  std::unique_ptr<StateStore> follower;
  ASSERT_TRUE(StateStore::Open(dir_, options, &follower).ok());
  bool must_reopen = true;
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_FALSE(must_reopen);
  Commit("2", 1);
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_FALSE(must_reopen);
  ASSERT_TRUE(writer_->Flush().ok());
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_TRUE(must_reopen);
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_FALSE(must_reopen);  // reported once
}

}  // namespace
}  // namespace statefold
