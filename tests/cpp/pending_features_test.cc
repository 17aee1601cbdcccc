// PendingFeatures: one value per (entity, feature), the newest message's, handed to the
// online store sorted and with its message's time and offset.

#include "engine/pending_features.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace statefold {
namespace {

// An online store that records what it was given.
class RecordingStore : public OnlineStore {
 public:
  Status Write(std::span<const FeatureValue> values, CheckpointBatch*) override {
    written.clear();
    for (const FeatureValue& v : values) {
      written.push_back(std::string(v.ns) + "/" + std::string(v.entity_id) + "/" +
                        std::string(v.feature) + "=" + std::string(v.value_json) + "@" +
                        std::to_string(v.time_ms) + ":" + std::to_string(v.offset));
    }
    return fail ? Status::IOError("the store is down") : Status::Ok();
  }
  Status ReadEntity(std::string_view, std::string_view, std::vector<StoredFeature>*) override {
    return Status::Ok();
  }
  std::vector<std::string> written;
  bool fail = false;
};

class PendingFeaturesTest : public ::testing::Test {
 protected:
  // Epoch messages 0..n-1 at offset 100 + i and time 1000 + i.
  void SetUp() override {
    for (int i = 0; i < 8; ++i) {
      RawRecord raw;
      raw.offset = 100 + i;
      DecodedRecord decoded;
      decoded.value = "{}";
      log_.Append(0, raw, decoded, 1000 + i);
    }
  }
  std::vector<std::string> Stage() {
    Status status = pending_.Stage(log_, &store_, nullptr);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return store_.written;
  }

  EpochLog log_;
  PendingFeatures pending_;
  RecordingStore store_;
};

TEST_F(PendingFeaturesTest, TheNewestMessagesValueWinsAndAReplayNeverGoesBack) {
  pending_.Add("user", "u1", "count", "1", false, 0, nullptr);
  pending_.Add("user", "u1", "count", "2", false, 3, nullptr);
  pending_.Add("user", "u1", "count", "9", false, 1, nullptr);  // replayed, older
  EXPECT_EQ(Stage(), (std::vector<std::string>{"user/u1/count=2@1003:103"}));
}

TEST_F(PendingFeaturesTest, ValuesAreStagedSortedByNamespaceEntityAndFeature) {
  pending_.Add("user", "u2", "b", "1", false, 0, nullptr);
  pending_.Add("user", "u2", "a", "2", true, 0, nullptr);
  pending_.Add("device", "d1", "z", "3", false, 1, nullptr);
  pending_.Add("user", "u1", "a", "\"x\"", false, 2, nullptr);
  pending_.Add("user", "u10", "a", "4", false, 2, nullptr);
  EXPECT_EQ(Stage(), (std::vector<std::string>{"device/d1/z=3@1001:101", "user/u1/a=\"x\"@1002:102",
                                               "user/u10/a=4@1002:102", "user/u2/a=2@1000:100",
                                               "user/u2/b=1@1000:100"}));
  EXPECT_EQ(pending_.staged().size(), 5u);
  EXPECT_EQ(pending_.entity_count(), 4u);
}

TEST_F(PendingFeaturesTest, AValueOfADifferentLengthReplacesTheOldOne) {
  pending_.Add("user", "u1", "name", "\"ab\"", false, 0, nullptr);
  pending_.Add("user", "u1", "name", "\"abcdef\"", false, 1, nullptr);
  pending_.Add("user", "u1", "name", "\"x\"", false, 2, nullptr);
  EXPECT_EQ(Stage(), (std::vector<std::string>{"user/u1/name=\"x\"@1002:102"}));
}

TEST_F(PendingFeaturesTest, AHintFindsItsEntityAndGoesStaleAfterClear) {
  PendingFeatures::Hint hint;
  pending_.Add("user", "u1", "count", "1", false, 0, &hint);
  ASSERT_NE(hint.entity, nullptr);
  EXPECT_EQ(hint.entity->key, std::string("user\0u1", 7));
  PendingFeatures::Hint other;
  pending_.Add("user", "u2", "count", "5", false, 1, &other);
  pending_.Add("user", "u1", "count", "2", false, 2, &hint);  // through the hint
  EXPECT_EQ(pending_.entity_count(), 2u);
  pending_.Add("user", "u2", "count", "6", false, 3, &other);
  // A hint for another entity is not followed, and is moved to the right one.
  PendingFeatures::Hint wrong = other;
  pending_.Add("user", "u1", "total", "3", false, 3, &wrong);
  EXPECT_EQ(wrong.entity, hint.entity);
  EXPECT_EQ(Stage(),
            (std::vector<std::string>{"user/u1/count=2@1002:102", "user/u1/total=3@1003:103",
                                      "user/u2/count=6@1003:103"}));
  pending_.Clear();
  EXPECT_EQ(pending_.entity_count(), 0u);
  EXPECT_TRUE(pending_.staged().empty());
  // The old hint points at a freed entity: it must be recognised as stale, not followed.
  pending_.PrefetchEntity(hint);
  pending_.PrefetchValues(hint);
  pending_.Add("user", "u1", "count", "7", false, 4, &hint);
  EXPECT_EQ(Stage(), (std::vector<std::string>{"user/u1/count=7@1004:104"}));
}

TEST_F(PendingFeaturesTest, AStoreFailureIsTheStagesFailure) {
  pending_.Add("user", "u1", "count", "1", false, 0, nullptr);
  store_.fail = true;
  Status status = pending_.Stage(log_, &store_, nullptr);
  EXPECT_EQ(status.code(), Status::Code::kIOError);
}

}  // namespace
}  // namespace statefold
