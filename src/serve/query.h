// POST /v1/query without the HTTP: the body's parse into a Query and the rendering of the rows
// that answer it. The route (feature_service.cc) reads each input's entity in between.
//
//   {"inputs": {"user.id": ["u1", 7]}, "outputs": ["user.x", ...], "include_meta": false}
//   -> {"rows": [{"user.id": "u1", "user.x": <value or null>, "meta": {"user.x":
//       {"time_ms": N, "offset": N}}}, ...]}
//
// docs/operations.md describes the route and its errors.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "online/online_store.h"
#include "statefold/status.h"

namespace statefold {

// The bounds of one query (FeatureServiceOptions::max_query_inputs, max_query_outputs).
struct QueryLimits {
  size_t max_inputs;   // ids
  size_t max_outputs;  // features
};

struct Query {
  struct Id {
    std::string text;        // a string id, or an integer's decimal digits
    bool is_number = false;  // given as a JSON integer, and answered as one
  };

  std::string_view input;  // the fully qualified primary key, e.g. "user.id"
  std::string_view ns;     // its namespace: "user"
  std::vector<Id> ids;     // in the order given, repeats kept (a row each)
  // Fully qualified features of `ns`, in the order given, without repeats or the input.
  std::vector<std::string_view> outputs;
  bool include_meta = false;
};

// Parses the body of POST /v1/query into *query, reusing its buffers. `input` and `outputs`
// point into `parser`'s document: valid until it parses again. On failure returns
// InvalidArgument with a message for the client, and sets *error_code to the error's code in
// the API: "invalid_json" (the body is not JSON), "too_many_inputs" (more ids than
// limits.max_inputs) or "invalid_query" (anything else, among them too many outputs).
Status ParseQuery(std::string_view body, const QueryLimits& limits, simdjson::dom::parser* parser,
                  Query* query, std::string_view* error_code);

// Writes the answer to a query into a response body, a row per input id.
class QueryRowWriter {
 public:
  // Starts the rows in *body, replacing what it held. `query` and `body` must outlive the
  // writer.
  QueryRowWriter(const Query& query, std::string* body);

  // Appends the row of query.ids[index] from its entity's `features` (sorted by feature name,
  // as OnlineStore::ReadEntity gives them; empty for an unknown entity): the id, each output's
  // value or null, and with include_meta the time and offset of each output it has.
  void AddRow(size_t index, std::span<const StoredFeature> features);
  // Ends the body. REQUIRES: called once, after the last AddRow.
  void Finish();

 private:
  const Query& query_;
  std::string* body_;
  size_t rows_ = 0;
};

}  // namespace statefold
