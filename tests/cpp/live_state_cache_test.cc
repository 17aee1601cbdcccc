// LiveStateCache: states load once per key, changed ones are staged in key order and become
// the committed ones, and the cache stays within its budget.

#include "engine/live_state_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "counter_resolver.h"
#include "state/state_layout.h"
#include "temp_state_dir.h"

namespace statefold {
namespace {

using testing::CounterResolver;

class LiveStateCacheTest : public ::testing::Test {
 protected:
  LiveStateCache::Node* Lookup(LiveStateCache* cache, std::string_view key) {
    Status status;
    LiveStateCache::Node* node = cache->Lookup(key, LiveStateCache::Hash(key), &status);
    EXPECT_NE(node, nullptr) << status.ToString();
    return node;
  }
  // Stages the cache and commits the batch; the repair must not be needed.
  void Commit(LiveStateCache* cache) {
    CheckpointBatch batch(dir_.store());
    Status status = cache->Stage(&batch, [](LiveStateCache::Node*) {
      ADD_FAILURE() << "no state needed a repair";
      return Status::Ok();
    });
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_TRUE(dir_.store()->Commit(&batch).ok());
  }
  std::string Meta(const std::string& name) {
    std::string value;
    bool found = false;
    EXPECT_TRUE(dir_.store()->GetMeta(name, &value, &found).ok());
    return found ? value : "<none>";
  }

  testing::TempStateDir dir_;
  CounterResolver resolver_;
};

TEST_F(LiveStateCacheTest, ANewKeyStartsFromAnInitialStateAndIsLoadedOnce) {
  LiveStateCache cache(&resolver_, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  LiveStateCache::Node* node = Lookup(&cache, "u1");
  EXPECT_EQ(CounterResolver::Count(node->value.state), 0);
  EXPECT_FALSE(node->value.committed);
  CounterResolver::Count(node->value.state) = 5;
  EXPECT_EQ(Lookup(&cache, "u1"), node);  // the same live object, not a reload
  EXPECT_EQ(CounterResolver::Count(node->value.state), 5);
  EXPECT_EQ(resolver_.live, 1);
}

TEST_F(LiveStateCacheTest, ChangedStatesAreCommittedWithTheSchemaAndKeyCount) {
  {
    LiveStateCache cache(&resolver_, dir_.store());
    ASSERT_TRUE(cache.Open().ok());
    for (const char* key : {"u3", "u1", "u2"}) {
      LiveStateCache::Node* node = Lookup(&cache, key);
      CounterResolver::Count(node->value.state) = key[1] - '0';
      cache.MarkDirty(node);
    }
    Lookup(&cache, "untouched");  // looked up, never changed: not stored
    Commit(&cache);
    EXPECT_EQ(cache.committed_keys(), 3u);
  }
  EXPECT_EQ(resolver_.live, 0);  // the cache released every state
  EXPECT_EQ(Meta(state_layout::SchemaKey("counter")), R"({"type":"int"})");
  EXPECT_EQ(Meta(state_layout::KeyCountKey("counter")), "3");
  std::vector<std::string> keys;
  ASSERT_TRUE(dir_.store()
                  ->ScanStates("counter",
                               [&](std::string_view key, std::string_view) {
                                 keys.emplace_back(key);
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"u1", "u2", "u3"}));

  LiveStateCache reopened(&resolver_, dir_.store());
  ASSERT_TRUE(reopened.Open().ok());
  EXPECT_EQ(reopened.committed_keys(), 3u);
  LiveStateCache::Node* node = Lookup(&reopened, "u2");
  EXPECT_TRUE(node->value.committed);
  EXPECT_EQ(CounterResolver::Count(node->value.state), 2);
}

TEST_F(LiveStateCacheTest, ACleanCacheStagesNothing) {
  LiveStateCache cache(&resolver_, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  Commit(&cache);  // the schema only
  Lookup(&cache, "u1");
  Commit(&cache);
  EXPECT_EQ(Meta(state_layout::KeyCountKey("counter")), "<none>");
  EXPECT_EQ(cache.committed_keys(), 0u);
}

TEST_F(LiveStateCacheTest, ReloadDropsWhatWasNotCommitted) {
  LiveStateCache cache(&resolver_, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  LiveStateCache::Node* node = Lookup(&cache, "u1");
  CounterResolver::Count(node->value.state) = 4;
  cache.MarkDirty(node);
  Commit(&cache);
  CounterResolver::Count(node->value.state) = 99;
  ASSERT_TRUE(cache.Reload(node).ok());
  EXPECT_EQ(CounterResolver::Count(node->value.state), 4);
  EXPECT_EQ(resolver_.live, 1);

  LiveStateCache::Node* fresh = Lookup(&cache, "u2");
  CounterResolver::Count(fresh->value.state) = 7;
  ASSERT_TRUE(cache.Reload(fresh).ok());
  EXPECT_EQ(CounterResolver::Count(fresh->value.state), 0);  // never committed: initial state
}

TEST_F(LiveStateCacheTest, AStateThatDoesNotEncodeIsRepairedBeforeItIsStaged) {
  LiveStateCache cache(&resolver_, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  LiveStateCache::Node* node = Lookup(&cache, "u1");
  CounterResolver::Count(node->value.state) = -1;
  cache.MarkDirty(node);
  CheckpointBatch batch(dir_.store());
  int repairs = 0;
  ASSERT_TRUE(cache
                  .Stage(&batch,
                         [&](LiveStateCache::Node* broken) {
                           ++repairs;
                           EXPECT_EQ(broken, node);
                           CounterResolver::Count(broken->value.state) = 1;
                           return Status::Ok();
                         })
                  .ok());
  ASSERT_TRUE(dir_.store()->Commit(&batch).ok());
  EXPECT_EQ(repairs, 1);
  EXPECT_EQ(cache.committed_keys(), 1u);

  // A repair that leaves it broken fails the stage, naming the resolver and key.
  CounterResolver::Count(node->value.state) = -2;
  cache.MarkDirty(node);
  CheckpointBatch again(dir_.store());
  Status status = cache.Stage(&again, [](LiveStateCache::Node*) { return Status::Ok(); });
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("resolver counter, key u1"), std::string::npos)
      << status.message();
}

TEST_F(LiveStateCacheTest, ARepairThatLeavesNothingToStoreStagesNothing) {
  LiveStateCache cache(&resolver_, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  LiveStateCache::Node* node = Lookup(&cache, "u1");
  CounterResolver::Count(node->value.state) = -1;
  cache.MarkDirty(node);
  CheckpointBatch batch(dir_.store());
  ASSERT_TRUE(cache
                  .Stage(&batch,
                         [](LiveStateCache::Node* broken) {
                           broken->value.dirty = false;  // every message was dead-lettered
                           return Status::Ok();
                         })
                  .ok());
  ASSERT_TRUE(dir_.store()->Commit(&batch).ok());
  EXPECT_EQ(cache.committed_keys(), 0u);
}

TEST_F(LiveStateCacheTest, EvictionKeepsTheBudgetAndDropsKeysUnusedInTheEpochFirst) {
  LiveStateCache cache(&resolver_, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  auto touch = [&](const std::string& key, int64_t count) {
    LiveStateCache::Node* node = Lookup(&cache, key);
    CounterResolver::Count(node->value.state) = count;
    cache.MarkDirty(node);
  };
  for (int i = 0; i < 8; ++i) touch("old" + std::to_string(i), 1);
  Commit(&cache);
  cache.EndEpoch(100);  // within budget: nothing evicted
  EXPECT_EQ(cache.size(), 8u);
  for (int i = 0; i < 4; ++i) touch("new" + std::to_string(i), 1);
  Commit(&cache);
  cache.EndEpoch(8);  // 12 entries, budget 8: trimmed to 6, the old ones first
  EXPECT_EQ(cache.size(), 6u);
  EXPECT_EQ(resolver_.live, 6);
  int new_kept = 0;
  for (int i = 0; i < 4; ++i) {
    Status status;
    const std::string key = "new" + std::to_string(i);
    LiveStateCache::Node* node = cache.Lookup(key, LiveStateCache::Hash(key), &status);
    new_kept += node != nullptr && CounterResolver::Count(node->value.state) == 1;
  }
  EXPECT_EQ(new_kept, 4);
  // An evicted key comes back with its committed state.
  LiveStateCache::Node* node = Lookup(&cache, "old0");
  EXPECT_TRUE(node->value.committed);
  EXPECT_EQ(CounterResolver::Count(node->value.state), 1);
}

TEST_F(LiveStateCacheTest, ASchemaChangeUnderStoredStatesIsRefused) {
  {
    LiveStateCache cache(&resolver_, dir_.store());
    ASSERT_TRUE(cache.Open().ok());
    cache.MarkDirty(Lookup(&cache, "u1"));
    Commit(&cache);
  }
  CounterResolver changed;
  changed.mutable_spec().state_schema = R"({"type":"str"})";
  LiveStateCache cache(&changed, dir_.store());
  Status status = cache.Open();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_NE(status.message().find("the state schema of resolver counter changed"),
            std::string::npos)
      << status.message();
}

TEST_F(LiveStateCacheTest, ASchemaChangeWithoutStoredStatesIsStaged) {
  {
    LiveStateCache cache(&resolver_, dir_.store());
    ASSERT_TRUE(cache.Open().ok());
    Commit(&cache);
  }
  CounterResolver changed;
  changed.mutable_spec().state_schema = R"({"type":"str"})";
  LiveStateCache cache(&changed, dir_.store());
  ASSERT_TRUE(cache.Open().ok());
  Commit(&cache);
  EXPECT_EQ(Meta(state_layout::SchemaKey("counter")), R"({"type":"str"})");
}

}  // namespace
}  // namespace statefold
