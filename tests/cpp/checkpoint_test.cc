// Checkpoint: due after its message count or interval (never for an empty epoch), and a
// commit applies everything staged at once.

#include "engine/checkpoint.h"

#include <gtest/gtest.h>

#include <thread>

#include "temp_state_dir.h"

namespace statefold {
namespace {

TEST(CheckpointTest, DueAfterItsMessageCountButNeverForAnEmptyEpoch) {
  testing::TempStateDir dir;
  Checkpoint checkpoint(dir.store(), {3, 60000});
  EXPECT_FALSE(checkpoint.Due(false));
  EXPECT_FALSE(checkpoint.Due(true));  // a full log with no messages: nothing to commit
  checkpoint.CountMessage();
  checkpoint.CountMessage();
  EXPECT_FALSE(checkpoint.Due(false));
  EXPECT_TRUE(checkpoint.Due(true));  // the epoch log is full
  checkpoint.CountMessage();
  EXPECT_TRUE(checkpoint.Due(false));
  ASSERT_TRUE(checkpoint.Commit().ok());
  EXPECT_FALSE(checkpoint.Due(false));  // a new interval
  EXPECT_EQ(checkpoint.committed(), 1u);
}

TEST(CheckpointTest, DueAfterItsInterval) {
  testing::TempStateDir dir;
  Checkpoint checkpoint(dir.store(), {1000000, 20});
  checkpoint.CountMessage();
  EXPECT_FALSE(checkpoint.Due(false));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_TRUE(checkpoint.Due(false));
}

TEST(CheckpointTest, ACommitAppliesEveryStagedWrite) {
  testing::TempStateDir dir;
  Checkpoint checkpoint(dir.store(), {});
  checkpoint.batch()->PutMeta("a", "1");
  checkpoint.batch()->PutState("resolver", "k", "state");
  checkpoint.batch()->PutPositions("src", {{0, 10, 100}});
  ASSERT_TRUE(checkpoint.Commit().ok());
  EXPECT_GE(checkpoint.last_commit_ms(), 0.0);
  std::string value;
  bool found = false;
  ASSERT_TRUE(dir.store()->GetMeta("a", &value, &found).ok());
  EXPECT_TRUE(found);
  ASSERT_TRUE(dir.store()->GetState("resolver", "k", &value, &found).ok());
  EXPECT_EQ(value, "state");
  std::vector<SourcePosition> positions;
  ASSERT_TRUE(dir.store()->GetPositions("src", &positions).ok());
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0].next_offset, 10);
  EXPECT_EQ(positions[0].byte_position, 100);
  // The batch is empty again: a second commit writes nothing new.
  ASSERT_TRUE(checkpoint.Commit().ok());
  EXPECT_EQ(checkpoint.committed(), 2u);
}

}  // namespace
}  // namespace statefold
