// FeatureService over a real socket, reading a state directory written by the real engine:
// routes, errors, the token, metrics, and a follower that sees the engine's later runs.

#include "serve/feature_service.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "http_test_client.h"
#include "online/online_store.h"
#include "source/file_source.h"
#include "state/run_status.h"
#include "state/state_layout.h"
#include "state/state_store.h"
#include "statefold/engine.h"
#include "temp_state_dir.h"
#include "test_resolver.h"

namespace statefold {
namespace {

using testing::Get;
using testing::Post;
using testing::TestConnection;
using testing::TestResponse;

class FeatureServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statefold-serve-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    input_ = (dir_ / "logins.jsonl").string();
    state_dir_ = (dir_ / "state").string();
  }
  void TearDown() override {
    if (service_) service_->Stop();
    std::filesystem::remove_all(dir_);
  }

  void Append(const std::string& user, const std::string& ip, int64_t ts) {
    std::ofstream out(input_, std::ios::app);
    out << R"({"key": ")" << user << R"(", "value": {"user_id": ")" << user << R"(", "ip": ")" << ip
        << R"("}, "timestamp": )" << ts << "}\n";
  }

  void RunEngine() {
    EngineOptions options;
    options.state_dir = state_dir_;
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(Engine::Open(options, &engine).ok());
    std::unique_ptr<Source> source;
    ASSERT_TRUE(OpenFileSource("logins", input_, &source).ok());
    engine->AddSource(std::move(source));
    testing::UniqueIpResolver resolver;
    engine->AddResolver(resolver.get());
    RunStats stats;
    Status status = engine->Run(&stats);
    ASSERT_TRUE(status.ok()) << status.ToString();
    engine.reset();
  }

  void StartService(FeatureServiceOptions options = {}, int64_t catch_up_interval_ms = 20) {
    options.state_dir = state_dir_;
    options.catch_up_interval_ms = catch_up_interval_ms;
    Status status = FeatureService::Start(options, &service_);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  TestResponse Request(const std::string& bytes) {
    TestConnection c(service_->port());
    EXPECT_TRUE(c.Send(bytes));
    TestResponse r;
    EXPECT_TRUE(c.ReadResponse(&r)) << bytes;
    return r;
  }

  // The "code" or "message" of a JSON error body.
  static std::string ErrorField(const TestResponse& r, const char* field) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view value;
    if (parser.parse(r.body).get(doc) || doc["error"][field].get(value)) return "<" + r.body + ">";
    return std::string(value);
  }
  static std::string ErrorCode(const TestResponse& r) { return ErrorField(r, "code"); }

  std::filesystem::path dir_;
  std::string input_, state_dir_;
  std::unique_ptr<FeatureService> service_;
};

TEST_F(FeatureServiceTest, ServesAnEntitysFeaturesWithTimesAndOffsets) {
  Append("u1", "a", 1000);
  Append("u2", "a", 2000);
  Append("u1", "b", 3000);
  RunEngine();
  StartService();
  TestResponse r = Request(Get("/v1/features/user/u1"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"namespace":"user","id":"u1","features":{)"
                    R"("id":{"value":"u1","time_ms":3000,"offset":2},)"
                    R"("unique_ip_count":{"value":2,"time_ms":3000,"offset":2}}})");
  TestResponse missing = Request(Get("/v1/features/user/nobody"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body,
            R"({"error":{"code":"not_found","message":"no features for user nobody"}})");
  EXPECT_EQ(Request(Get("/v1/features/user/%zz")).status, 400);
  EXPECT_EQ(Request(Get("/v1/features/user/%ff")).status, 400);  // not UTF-8
  EXPECT_EQ(Request(Get("/v1/features/user")).status, 404);
  EXPECT_EQ(Request(Get("/v1/features/user/")).status, 404);
}

TEST_F(FeatureServiceTest, IdsArePercentDecoded) {
  Append("a b/c", "x", 1000);
  RunEngine();
  StartService();
  TestResponse r = Request(Get("/v1/features/user/a%20b%2Fc"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("id":"a b/c")"), std::string::npos) << r.body;
}

TEST_F(FeatureServiceTest, QueryReturnsARowPerInput) {
  Append("u1", "a", 1000);
  Append("u1", "b", 2000);
  Append("7", "a", 3000);
  RunEngine();
  StartService();
  TestResponse r = Request(Post(
      "/v1/query",
      R"({"inputs": {"user.id": ["u1", "nobody", 7, "u1"]}, "outputs": ["user.unique_ip_count", "user.id"]})"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"rows":[{"user.id":"u1","user.unique_ip_count":2},)"
                    R"({"user.id":"nobody","user.unique_ip_count":null},)"
                    R"({"user.id":7,"user.unique_ip_count":1},)"
                    R"({"user.id":"u1","user.unique_ip_count":2}]})");
  TestResponse meta = Request(Post(
      "/v1/query",
      R"({"inputs": {"user.id": ["u1", "nobody"]}, "outputs": ["user.unique_ip_count"], "include_meta": true})"));
  EXPECT_EQ(
      meta.body,
      R"({"rows":[{"user.id":"u1","user.unique_ip_count":2,"meta":{"user.unique_ip_count":{"time_ms":2000,"offset":1}}},)"
      R"({"user.id":"nobody","user.unique_ip_count":null,"meta":{}}]})");
  TestResponse empty = Request(
      Post("/v1/query", R"({"inputs": {"user.id": []}, "outputs": ["user.unique_ip_count"]})"));
  EXPECT_EQ(empty.body, R"({"rows":[]})");
}

TEST_F(FeatureServiceTest, MalformedQueriesAreNamed) {
  Append("u1", "a", 1000);
  RunEngine();
  FeatureServiceOptions options;
  options.max_query_inputs = 3;
  StartService(options);
  struct Case {
    std::string body;
    std::string code;
    std::string message_part;
  };
  std::vector<Case> cases = {
      {"", "invalid_json", "empty"},
      {"{\"inputs\": ", "invalid_json", "not valid JSON"},
      {"[1, 2]", "invalid_query", "JSON object"},
      {R"({"outputs": ["user.x"]})", "invalid_query", "\"inputs\" must be an object"},
      {R"({"inputs": [], "outputs": ["user.x"]})", "invalid_query", "\"inputs\" must be an object"},
      {R"({"inputs": {"user.id": ["u1"], "card.id": ["c"]}, "outputs": ["user.x"]})",
       "invalid_query", "exactly one primary key, got 2"},
      {R"({"inputs": {"id": ["u1"]}, "outputs": ["user.x"]})", "invalid_query",
       "not a fully qualified"},
      {R"({"inputs": {"user.id": "u1"}, "outputs": ["user.x"]})", "invalid_query",
       "must be a list of ids"},
      {R"({"inputs": {"user.id": ["u1", 1.5]}, "outputs": ["user.x"]})", "invalid_query",
       "[1] must be a string or an integer"},
      {R"({"inputs": {"user.id": ["a", "b", "c", "d"]}, "outputs": ["user.x"]})", "too_many_inputs",
       "at most 3"},
      {R"({"inputs": {"user.id": ["u1"]}})", "invalid_query", "\"outputs\" must be"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": []})", "invalid_query", "\"outputs\" must be"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": [3]})", "invalid_query", "as strings"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["card.limit"]})", "invalid_query",
       "not a feature of the input's namespace \"user\""},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["user"]})", "invalid_query",
       "not a feature of the input's namespace"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["user.x"], "include_meta": 1})",
       "invalid_query", "include_meta"},
      {R"({"input": {"user.id": ["u1"]}, "outputs": ["user.x"]})", "invalid_query",
       "unknown field \"input\""},
  };
  for (const Case& test : cases) {
    TestResponse r = Request(Post("/v1/query", test.body));
    EXPECT_EQ(r.status, 400) << test.body;
    EXPECT_EQ(ErrorCode(r), test.code) << test.body;
    EXPECT_NE(ErrorField(r, "message").find(test.message_part), std::string::npos)
        << test.body << " -> " << r.body;
  }
}

TEST_F(FeatureServiceTest, RoutesMethodsAndHealth) {
  Append("u1", "a", 1000);
  RunEngine();
  StartService();
  TestResponse health = Request(Get("/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  TestResponse unknown = Request(Get("/v2/nothing"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(ErrorCode(unknown), "not_found");
  TestResponse post = Request(Post("/v1/features/user/u1", "{}"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("allow"), "GET, HEAD");
  EXPECT_EQ(ErrorCode(post), "method_not_allowed");
  TestResponse get_query = Request(Get("/v1/query"));
  EXPECT_EQ(get_query.status, 405);
  EXPECT_EQ(get_query.Header("allow"), "POST");
  TestResponse chunked =
      Request("POST /v1/query HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 411);
  EXPECT_EQ(ErrorCode(chunked), "length_required");
}

TEST_F(FeatureServiceTest, TheTokenGuardsEverythingButHealth) {
  Append("u1", "a", 1000);
  RunEngine();
  FeatureServiceOptions options;
  options.token = "s3cret";
  StartService(options);
  TestResponse missing = Request(Get("/v1/features/user/u1"));
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.Header("www-authenticate"), "Bearer realm=\"statefold\"");
  EXPECT_EQ(ErrorCode(missing), "unauthorized");
  TestResponse wrong = Request(Get("/v1/features/user/u1", "Authorization: Bearer s3cres\r\n"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.Header("www-authenticate"),
            "Bearer realm=\"statefold\", error=\"invalid_token\"");
  EXPECT_EQ(Request(Get("/metrics", "Authorization: Basic czNjcmV0\r\n")).status, 401);
  EXPECT_EQ(Request(Get("/nothing")).status, 401);  // routes are not revealed either
  EXPECT_EQ(Request(Get("/v1/features/user/u1", "Authorization: Bearer s3cret\r\n")).status, 200);
  EXPECT_EQ(Request(Get("/v1/features/user/u1", "authorization: bearer s3cret\r\n")).status, 200);
  EXPECT_EQ(Request(Get("/healthz")).status, 200);
}

TEST_F(FeatureServiceTest, MetricsHaveTheEngineAndServerFamilies) {
  Append("u1", "a", 1000);
  Append("u2", "b", 2000);
  RunEngine();
  StartService();
  Request(Get("/v1/features/user/u1"));
  Request(Get("/v1/features/user/nobody"));
  Request("garbage\x01\r\n\r\n");
  TestResponse r = Request(Get("/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* expected : {
           "# TYPE statefold_messages_total counter\nstatefold_messages_total 2\n",
           "statefold_outputs_total 2\n",
           "statefold_dead_letters_total 0\n",
           "statefold_checkpoints_total 1\n",
           "statefold_resolver_keys{resolver=\"unique_ips\"} 2\n",
           "statefold_source_next_offset{source=\"logins\",partition=\"0\"} 2\n",
           "# TYPE statefold_checkpoint_commit_seconds gauge\n",
           "statefold_http_requests_total{route=\"features\",code=\"200\"} 1\n",
           "statefold_http_requests_total{route=\"features\",code=\"404\"} 1\n",
           "statefold_http_requests_total{route=\"rejected\",code=\"400\"} 1\n",
           "statefold_http_request_duration_seconds_bucket{route=\"features\",le=\"+Inf\"} 2\n",
           "statefold_http_request_duration_seconds_count{route=\"features\"} 2\n",
           "# TYPE statefold_http_open_connections gauge\nstatefold_http_open_connections ",
       }) {
    EXPECT_NE(r.body.find(expected), std::string::npos) << expected << "\n" << r.body;
  }
}

TEST_F(FeatureServiceTest, FollowsLaterRunsOfTheEngine) {
  Append("u1", "a", 1000);
  RunEngine();
  StartService();
  EXPECT_NE(Request(Get("/v1/features/user/u1")).body.find(R"("unique_ip_count":{"value":1)"),
            std::string::npos);
  Append("u1", "b", 2000);
  Append("u3", "c", 3000);
  RunEngine();
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    TestResponse r = Request(Get("/v1/features/user/u3"));
    seen = r.status == 200;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(seen);
  EXPECT_NE(Request(Get("/v1/features/user/u1")).body.find(R"("unique_ip_count":{"value":2)"),
            std::string::npos);
}

TEST_F(FeatureServiceTest, ServesWhatTheEngineFlushedBeforeTheServerCaughtUp) {
  std::unique_ptr<StateStore> writer;
  ASSERT_TRUE(StateStore::Open(state_dir_, testing::WriterOptions(), &writer).ok());
  std::unique_ptr<OnlineStore> online = NewEmbeddedOnlineStore(writer.get());
  // A checkpoint: a feature value, and the run's status with as many messages.
  auto commit = [&](int count, int64_t offset) {
    CheckpointBatch batch(writer.get());
    std::string value = std::to_string(count);
    FeatureValue write{"user", "u1", "unique_ip_count", value, 1000, offset};
    ASSERT_TRUE(online->Write({&write, 1}, &batch).ok());
    RunStatus run_status;
    run_status.messages = static_cast<uint64_t>(count);
    batch.PutMeta(state_layout::kRunStatusKey, run_status.ToJson());
    ASSERT_TRUE(writer->Commit(&batch).ok());
  };
  auto wait_for = [&](int count) {
    std::string feature = R"("unique_ip_count":{"value":)" + std::to_string(count) + ",";
    std::string metric = "\nstatefold_messages_total " + std::to_string(count) + "\n";
    for (int i = 0; i < 300; ++i) {
      if (Request(Get("/v1/features/user/u1")).body.find(feature) != std::string::npos &&
          Request(Get("/metrics")).body.find(metric) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  commit(1, 0);
  StartService({}, 200);
  ASSERT_TRUE(wait_for(1));
  // Committed and flushed (its log deleted) before the server's next catch-up, and nothing
  // written after: the server must still see it.
  commit(2, 1);
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_TRUE(wait_for(2)) << Request(Get("/metrics")).body;
}

TEST_F(FeatureServiceTest, WaitsForAStateDirectoryThatDoesNotExistYet) {
  FeatureServiceOptions options;
  options.state_dir = state_dir_;
  Status missing = FeatureService::Start(options, &service_);
  EXPECT_TRUE(missing.IsNotFound()) << missing.ToString();

  options.wait_for_state_dir = true;
  StartService(options);
  TestResponse before = Request(Get("/v1/features/user/u1"));
  EXPECT_EQ(before.status, 503);
  EXPECT_EQ(ErrorCode(before), "unavailable");
  Append("u1", "a", 1000);
  RunEngine();
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    status = Request(Get("/v1/features/user/u1")).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(FeatureServiceTest, UnknownOnlineStoreUrlFailsToStart) {
  Append("u1", "a", 1000);
  RunEngine();
  FeatureServiceOptions options;
  options.state_dir = state_dir_;
  options.online_store_url = "memcached://nowhere";
  Status status = FeatureService::Start(options, &service_);
  EXPECT_TRUE(status.IsInvalidArgument()) << status.ToString();
}

}  // namespace
}  // namespace statefold
