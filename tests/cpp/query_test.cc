// POST /v1/query without HTTP: what ParseQuery accepts and refuses (with the API's error code
// and a message naming the problem), and how rows are rendered, missing values included.
// feature_service_test.cc checks the same route over a socket.

#include "serve/query.h"

#include <gtest/gtest.h>

#include <vector>

namespace statefold {
namespace {

class QueryTest : public ::testing::Test {
 protected:
  // Parses `body`; "" when it parsed, else "<code>: <message>".
  std::string Parse(std::string_view body) {
    std::string_view code;
    Status status = ParseQuery(body, limits_, &parser_, &query_, &code);
    return status.ok() ? "" : std::string(code) + ": " + status.message();
  }

  // The rows for query_ from `entities` (id -> features sorted by name; absent: unknown).
  std::string Render(
      const std::vector<std::pair<std::string, std::vector<StoredFeature>>>& entities) {
    std::string body = "left over from an earlier request";
    QueryRowWriter rows(query_, &body);
    for (size_t i = 0; i < query_.ids.size(); ++i) {
      std::vector<StoredFeature> none;
      const std::vector<StoredFeature>* features = &none;
      for (const auto& [id, stored] : entities) {
        if (id == query_.ids[i].text) features = &stored;
      }
      rows.AddRow(i, *features);
    }
    rows.Finish();
    return body;
  }

  QueryLimits limits_{1000, 256};
  simdjson::dom::parser parser_;
  Query query_;
};

TEST_F(QueryTest, ParsesInputsOutputsAndMeta) {
  ASSERT_EQ(Parse(R"({"outputs": ["user.a", "user.b"], "include_meta": true,
                      "inputs": {"user.id": ["u1", 7, 18446744073709551615, -3, "u1"]}})"),
            "");
  EXPECT_EQ(query_.input, "user.id");
  EXPECT_EQ(query_.ns, "user");
  ASSERT_EQ(query_.ids.size(), 5u);
  std::vector<std::pair<std::string, bool>> ids;
  for (const Query::Id& id : query_.ids) ids.emplace_back(id.text, id.is_number);
  EXPECT_EQ(ids, (std::vector<std::pair<std::string, bool>>{{"u1", false},
                                                            {"7", true},
                                                            {"18446744073709551615", true},
                                                            {"-3", true},
                                                            {"u1", false}}));
  EXPECT_EQ(query_.outputs, (std::vector<std::string_view>{"user.a", "user.b"}));
  EXPECT_TRUE(query_.include_meta);
}

TEST_F(QueryTest, RepeatedOutputsAndTheInputAreAskedOnce) {
  ASSERT_EQ(Parse(R"({"inputs": {"user.id": ["u1"]},
                      "outputs": ["user.b", "user.id", "user.a", "user.b"]})"),
            "");
  EXPECT_EQ(query_.outputs, (std::vector<std::string_view>{"user.b", "user.a"}));
  EXPECT_FALSE(query_.include_meta);
}

TEST_F(QueryTest, ABufferReusedForAnotherQueryHoldsOnlyThatOne) {
  ASSERT_EQ(Parse(R"({"inputs": {"user.id": ["u1", "u2"]}, "outputs": ["user.a"],
                      "include_meta": true})"),
            "");
  ASSERT_EQ(Parse(R"({"inputs": {"card.id": [5]}, "outputs": ["card.limit"]})"), "");
  EXPECT_EQ(query_.input, "card.id");
  ASSERT_EQ(query_.ids.size(), 1u);
  EXPECT_EQ(query_.ids[0].text, "5");
  EXPECT_EQ(query_.outputs, (std::vector<std::string_view>{"card.limit"}));
  EXPECT_FALSE(query_.include_meta);
}

TEST_F(QueryTest, LimitsBoundIdsAndOutputs) {
  limits_.max_inputs = 2;
  limits_.max_outputs = 2;
  EXPECT_EQ(Parse(R"({"inputs": {"user.id": ["a", "b"]}, "outputs": ["user.x", "user.y"]})"), "");
  EXPECT_EQ(Parse(R"({"inputs": {"user.id": ["a", "b", "c"]}, "outputs": ["user.x"]})"),
            "too_many_inputs: 3 ids in one query; at most 2");
  EXPECT_EQ(Parse(R"({"inputs": {"user.id": ["a"]}, "outputs": ["user.x", "user.y", "user.z"]})"),
            "invalid_query: 3 outputs in one query; at most 2");
  // Repeats count against the limit: it bounds the request, not the answer.
  EXPECT_EQ(Parse(R"({"inputs": {"user.id": ["a"]}, "outputs": ["user.x", "user.x", "user.x"]})"),
            "invalid_query: 3 outputs in one query; at most 2");
}

TEST_F(QueryTest, MalformedBodiesAreNamedWithTheirErrorCode) {
  struct Case {
    std::string body;
    std::string expected;  // "<code>: <message>"
  };
  const std::vector<Case> cases = {
      {"", "invalid_json: the body is empty: send a JSON object with \"inputs\" and \"outputs\""},
      {"{\"inputs\": ", "invalid_json: the body is not valid JSON: "},
      {"\xff", "invalid_json: the body is not valid JSON: "},
      {"[1, 2]", "invalid_query: the body must be a JSON object with \"inputs\" and \"outputs\""},
      {R"({"outputs": ["user.x"]})",
       "invalid_query: \"inputs\" must be an object with one primary key and a list of ids, "
       "e.g. {\"user.id\": [\"u1\", \"u2\"]}"},
      {R"({"inputs": [], "outputs": ["user.x"]})",
       "invalid_query: \"inputs\" must be an object with one primary key"},
      {R"({"inputs": {}, "outputs": ["user.x"]})",
       "invalid_query: \"inputs\" must name exactly one primary key, got 0"},
      {R"({"inputs": {"user.id": ["u1"], "card.id": ["c"]}, "outputs": ["user.x"]})",
       "invalid_query: \"inputs\" must name exactly one primary key, got 2"},
      {R"({"inputs": {"id": ["u1"]}, "outputs": ["user.x"]})",
       "invalid_query: input \"id\" is not a fully qualified primary key (namespace.feature, "
       "e.g. user.id)"},
      {R"({"inputs": {".id": ["u1"]}, "outputs": ["user.x"]})",
       "invalid_query: input \".id\" is not a fully qualified primary key"},
      {R"({"inputs": {"user.": ["u1"]}, "outputs": ["user.x"]})",
       "invalid_query: input \"user.\" is not a fully qualified primary key"},
      {R"({"inputs": {"user.id": "u1"}, "outputs": ["user.x"]})",
       "invalid_query: inputs[\"user.id\"] must be a list of ids"},
      {R"({"inputs": {"user.id": ["u1", 1.5]}, "outputs": ["user.x"]})",
       "invalid_query: inputs[\"user.id\"][1] must be a string or an integer"},
      {R"({"inputs": {"user.id": [null]}, "outputs": ["user.x"]})",
       "invalid_query: inputs[\"user.id\"][0] must be a string or an integer"},
      {R"({"inputs": {"user.id": ["u1"]}})",
       "invalid_query: \"outputs\" must be a non-empty list of features, e.g. "
       "[\"user.unique_ip_count\"]"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": []})",
       "invalid_query: \"outputs\" must be a non-empty list of features"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": "user.x"})",
       "invalid_query: \"outputs\" must be a non-empty list of features"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": [3]})",
       "invalid_query: \"outputs\" must list feature names as strings"},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["card.limit"]})",
       "invalid_query: output \"card.limit\" is not a feature of the input's namespace \"user\""},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["user"]})",
       "invalid_query: output \"user\" is not a feature of the input's namespace \"user\""},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["user."]})",
       "invalid_query: output \"user.\" is not a feature of the input's namespace \"user\""},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["username"]})",
       "invalid_query: output \"username\" is not a feature of the input's namespace \"user\""},
      {R"({"inputs": {"user.id": ["u1"]}, "outputs": ["user.x"], "include_meta": 1})",
       "invalid_query: \"include_meta\" must be true or false"},
      {R"({"input": {"user.id": ["u1"]}, "outputs": ["user.x"]})",
       "invalid_query: unknown field \"input\" (expected \"inputs\", \"outputs\" and optionally "
       "\"include_meta\")"},
  };
  for (const Case& test : cases) {
    std::string got = Parse(test.body);
    EXPECT_TRUE(got.starts_with(test.expected)) << test.body << "\n  got: " << got;
  }
}

TEST_F(QueryTest, RowsGiveNullForMissingValuesAndMetaOnlyForPresentOnes) {
  ASSERT_EQ(Parse(R"({"inputs": {"user.id": ["u1", "nobody", 7]},
                      "outputs": ["user.count", "user.name", "user.id"]})"),
            "");
  std::vector<std::pair<std::string, std::vector<StoredFeature>>> entities = {
      {"u1", {{"count", "2", 3000, 2}, {"id", "\"u1\"", 3000, 2}, {"name", "\"Ann\"", 1000, 0}}},
      {"7", {{"count", "1", 500, 9}}},
  };
  EXPECT_EQ(Render(entities), R"({"rows":[{"user.id":"u1","user.count":2,"user.name":"Ann"},)"
                              R"({"user.id":"nobody","user.count":null,"user.name":null},)"
                              R"({"user.id":7,"user.count":1,"user.name":null}]})");

  ASSERT_EQ(Parse(R"({"inputs": {"user.id": ["u1", "nobody", 7]},
                      "outputs": ["user.count", "user.name"], "include_meta": true})"),
            "");
  EXPECT_EQ(Render(entities),
            R"({"rows":[{"user.id":"u1","user.count":2,"user.name":"Ann","meta":{)"
            R"("user.count":{"time_ms":3000,"offset":2},"user.name":{"time_ms":1000,"offset":0}}},)"
            R"({"user.id":"nobody","user.count":null,"user.name":null,"meta":{}},)"
            R"({"user.id":7,"user.count":1,"user.name":null,"meta":{)"
            R"("user.count":{"time_ms":500,"offset":9}}}]})");
}

TEST_F(QueryTest, IdsAndNamesAreEscapedAsJson) {
  ASSERT_EQ(Parse(R"({"inputs": {"user.id": ["a\"b\\c\n"]}, "outputs": ["user.x\"y"]})"), "");
  EXPECT_EQ(Render({}), R"({"rows":[{"user.id":"a\"b\\c\n","user.x\"y":null}]})");
}

TEST_F(QueryTest, NoIdsGiveNoRows) {
  ASSERT_EQ(Parse(R"({"inputs": {"user.id": []}, "outputs": ["user.x"]})"), "");
  EXPECT_EQ(Render({}), R"({"rows":[]})");
}

}  // namespace
}  // namespace statefold
