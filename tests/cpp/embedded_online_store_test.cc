// The embedded online store (the state directory's `online` column family) on a real
// StateStore in a scratch directory: values are written by the checkpoint that commits them,
// ReadEntity gives an entity's features sorted by name, an unknown entity has none, and a
// stored value that does not decode is Corruption.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "online/online_store.h"
#include "scratch_dir.h"
#include "state/state_layout.h"
#include "state/state_store.h"
#include "temp_state_dir.h"

namespace statefold {
namespace {

class EmbeddedOnlineStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(StateStore::Open(dir_ / "state", testing::WriterOptions(), &state_).ok());
    OnlineStoreOptions options;  // url "": the embedded store
    Status status = OpenOnlineStore(options, state_.get(), &online_);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // Writes `values` in one checkpoint and commits it.
  void Commit(const std::vector<FeatureValue>& values) {
    CheckpointBatch batch(state_.get());
    ASSERT_TRUE(online_->Write(values, &batch).ok());
    ASSERT_TRUE(state_->Commit(&batch).ok());
  }
  // The features of an entity as "feature=json@time_ms/offset".
  std::vector<std::string> Read(std::string_view ns, std::string_view entity) {
    std::vector<StoredFeature> features;
    Status status = online_->ReadEntity(ns, entity, &features);
    EXPECT_TRUE(status.ok()) << status.ToString();
    std::vector<std::string> text;
    for (const StoredFeature& f : features) {
      text.push_back(f.feature + "=" + f.value_json + "@" + std::to_string(f.time_ms) + "/" +
                     std::to_string(f.offset));
    }
    return text;
  }

  ScratchDir dir_{"statefold-embedded-online-store-test"};
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<OnlineStore> online_;
};

using Features = std::vector<std::string>;

TEST_F(EmbeddedOnlineStoreTest, ValuesAreWrittenByTheCheckpointThatCommitsThem) {
  CheckpointBatch batch(state_.get());
  std::vector<FeatureValue> values = {{"user", "u1", "count", "3", 1000, 7},
                                      {"user", "u1", "id", R"("u1")", 1000, 7}};
  ASSERT_TRUE(online_->Write(values, &batch).ok());
  EXPECT_EQ(Read("user", "u1"), Features{});  // staged in the checkpoint only
  ASSERT_TRUE(state_->Commit(&batch).ok());
  EXPECT_EQ(Read("user", "u1"), (Features{"count=3@1000/7", R"(id="u1"@1000/7)"}));
}

TEST_F(EmbeddedOnlineStoreTest, ReadEntityIsSortedByFeatureNameAndTheLatestWriteWins) {
  Commit({{"user", "u1", "b", "1", 10, 0}});
  Commit({{"user", "u1", "a", R"({"x":[1,2]})", 20, 1},
          {"user", "u1", "b", "2", 20, 1},
          {"user", "u1", "c", "null", 20, 1}});
  Commit({{"user", "u1", "a", R"("later")", 30, 2}});
  EXPECT_EQ(Read("user", "u1"), (Features{R"(a="later"@30/2)", "b=2@20/1", "c=null@20/1"}));
}

TEST_F(EmbeddedOnlineStoreTest, TimesAndOffsetsKeepTheirFullRange) {
  Commit({{"user", "u1", "early", "1", -86'400'000, 0},
          {"user", "u1", "late", "2", int64_t{1} << 50, (int64_t{1} << 53) + 1}});
  EXPECT_EQ(Read("user", "u1"),
            (Features{"early=1@-86400000/0", "late=2@1125899906842624/9007199254740993"}));
}

TEST_F(EmbeddedOnlineStoreTest, AnUnknownEntityHasNoFeatures) {
  Commit({{"user", "u10", "count", "1", 1, 0}, {"user2", "u1", "count", "2", 1, 0}});
  // Neither an id nor a namespace that another one starts with matches it.
  EXPECT_EQ(Read("user", "u1"), Features{});
  EXPECT_EQ(Read("user", "u"), Features{});
  EXPECT_EQ(Read("account", "u10"), Features{});
  EXPECT_EQ(Read("user", "u10"), Features{"count=1@1/0"});
  EXPECT_EQ(Read("user2", "u1"), Features{"count=2@1/0"});
}

TEST_F(EmbeddedOnlineStoreTest, AMalformedStoredValueIsCorruptionNamingTheFeature) {
  Commit({{"user", "u1", "a", "1", 1, 0}});
  CheckpointBatch batch(state_.get());
  std::string key;
  state_layout::AppendOnlineEntityPrefix("user", "u1", &key);
  key += "broken";
  batch.PutOnline(key, "\x80");  // a varint that never ends
  ASSERT_TRUE(state_->Commit(&batch).ok());

  std::vector<StoredFeature> features;
  Status status = online_->ReadEntity("user", "u1", &features);
  EXPECT_EQ(status.code(), Status::Code::kCorruption) << status.ToString();
  EXPECT_EQ(status.message(), "malformed online value for broken");
  // Other entities still read.
  Commit({{"user", "u2", "a", "1", 1, 0}});
  EXPECT_EQ(Read("user", "u2"), Features{"a=1@1/0"});
}

TEST_F(EmbeddedOnlineStoreTest, TheEmbeddedUrlNeedsAStateStore) {
  for (const char* url : {"", "embedded"}) {
    OnlineStoreOptions options;
    options.url = url;
    std::unique_ptr<OnlineStore> store;
    EXPECT_TRUE(OpenOnlineStore(options, state_.get(), &store).ok()) << url;
    EXPECT_NE(store, nullptr);
    Status status = OpenOnlineStore(options, nullptr, &store);
    EXPECT_TRUE(status.IsInvalidArgument()) << url << ": " << status.ToString();
  }
}

}  // namespace
}  // namespace statefold
