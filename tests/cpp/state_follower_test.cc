// A follower of a state directory (StateStore::Mode::kFollower, the StateInspector that
// Client(state_dir) uses) sees what the writer commits, including values that the writer
// flushed to table files before the follower read them from its log: point reads (metadata,
// state) as well as scans (features).

#include <gtest/gtest.h>

#include <filesystem>

#include "online/online_store.h"
#include "state/run_status.h"
#include "state/state_inspector.h"
#include "state/state_layout.h"
#include "state/state_store.h"

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
    ASSERT_TRUE(StateStore::Open(dir_, StateStore::Options(), &writer_).ok());
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
