// POST /v1/query: the body's parse and the rows' rendering (see query.h).

#include "serve/query.h"

#include <algorithm>
#include <charconv>

#include "statefold/json_text.h"
#include "util/number_text.h"

namespace statefold {
namespace {

// The feature named `name` in `features` (sorted by name), or null.
const StoredFeature* Find(std::span<const StoredFeature> features, std::string_view name) {
  auto it = std::lower_bound(
      features.begin(), features.end(), name,
      [](const StoredFeature& f, std::string_view n) { return std::string_view(f.feature) < n; });
  return it != features.end() && it->feature == name ? &*it : nullptr;
}

}  // namespace

Status ParseQuery(std::string_view body, const QueryLimits& limits, simdjson::dom::parser* parser,
                  Query* query, std::string_view* error_code) {
  query->input = {};
  query->ns = {};
  query->ids.clear();
  query->outputs.clear();
  query->include_meta = false;
  *error_code = "invalid_query";
  auto invalid = [](std::string message) { return Status::InvalidArgument(std::move(message)); };

  simdjson::dom::element document;
  simdjson::error_code error = parser->parse(body.data(), body.size()).get(document);
  if (error) {
    *error_code = "invalid_json";
    return invalid(body.empty() ? std::string("the body is empty: send a JSON object with "
                                              "\"inputs\" and \"outputs\"")
                                : std::string("the body is not valid JSON: ") +
                                      simdjson::error_message(error));
  }
  simdjson::dom::object root;
  if (document.get_object().get(root)) {
    return invalid("the body must be a JSON object with \"inputs\" and \"outputs\"");
  }
  simdjson::dom::element inputs, outputs;
  bool have_inputs = false, have_outputs = false;
  for (simdjson::dom::key_value_pair field : root) {
    if (field.key == "inputs") {
      inputs = field.value;
      have_inputs = true;
    } else if (field.key == "outputs") {
      outputs = field.value;
      have_outputs = true;
    } else if (field.key == "include_meta") {
      if (field.value.get_bool().get(query->include_meta)) {
        return invalid("\"include_meta\" must be true or false");
      }
    } else {
      return invalid("unknown field \"" + std::string(field.key) +
                     "\" (expected \"inputs\", \"outputs\" and optionally \"include_meta\")");
    }
  }

  // inputs: exactly one fully qualified primary key, with a list of ids.
  simdjson::dom::object input_object;
  if (!have_inputs || inputs.get_object().get(input_object) || input_object.size() != 1) {
    return invalid(!have_inputs || !inputs.is_object()
                       ? "\"inputs\" must be an object with one primary key and a list of ids, "
                         "e.g. {\"user.id\": [\"u1\", \"u2\"]}"
                       : "\"inputs\" must name exactly one primary key, got " +
                             std::to_string(input_object.size()));
  }
  simdjson::dom::key_value_pair input = *input_object.begin();
  std::string_view input_key = input.key;
  size_t dot = input_key.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == input_key.size()) {
    return invalid("input \"" + std::string(input_key) +
                   "\" is not a fully qualified primary key (namespace.feature, e.g. user.id)");
  }
  std::string_view ns = input_key.substr(0, dot);
  simdjson::dom::array id_list;
  if (input.value.get_array().get(id_list)) {
    return invalid("inputs[\"" + std::string(input_key) + "\"] must be a list of ids");
  }
  if (id_list.size() > limits.max_inputs) {
    *error_code = "too_many_inputs";
    return invalid(std::to_string(id_list.size()) + " ids in one query; at most " +
                   std::to_string(limits.max_inputs));
  }
  size_t index = 0;
  for (simdjson::dom::element id : id_list) {
    std::string_view text_id;
    int64_t signed_id;
    uint64_t unsigned_id;
    if (!id.get_string().get(text_id)) {
      query->ids.push_back({std::string(text_id), false});
    } else if (!id.get_int64().get(signed_id)) {
      query->ids.push_back({std::to_string(signed_id), true});
    } else if (!id.get_uint64().get(unsigned_id)) {
      query->ids.push_back({std::to_string(unsigned_id), true});
    } else {
      return invalid("inputs[\"" + std::string(input_key) + "\"][" + std::to_string(index) +
                     "] must be a string or an integer");
    }
    ++index;
  }

  // outputs: fully qualified features of the input's namespace.
  simdjson::dom::array output_list;
  if (!have_outputs || outputs.get_array().get(output_list) || output_list.size() == 0) {
    return invalid("\"outputs\" must be a non-empty list of features, e.g. [\"" + std::string(ns) +
                   ".unique_ip_count\"]");
  }
  if (output_list.size() > limits.max_outputs) {
    return invalid(std::to_string(output_list.size()) + " outputs in one query; at most " +
                   std::to_string(limits.max_outputs));
  }
  for (simdjson::dom::element output : output_list) {
    std::string_view name;
    if (output.get_string().get(name)) {
      return invalid("\"outputs\" must list feature names as strings");
    }
    if (name.size() <= ns.size() + 1 || name.substr(0, ns.size()) != ns || name[ns.size()] != '.') {
      return invalid("output \"" + std::string(name) +
                     "\" is not a feature of the input's namespace \"" + std::string(ns) + "\"");
    }
    if (name == input_key ||
        std::find(query->outputs.begin(), query->outputs.end(), name) != query->outputs.end()) {
      continue;  // the row has it already
    }
    query->outputs.push_back(name);
  }
  query->input = input_key;
  query->ns = ns;
  return Status::Ok();
}

QueryRowWriter::QueryRowWriter(const Query& query, std::string* body) : query_(query), body_(body) {
  body_->assign("{\"rows\":[");
}

void QueryRowWriter::AddRow(size_t index, std::span<const StoredFeature> features) {
  std::string& body = *body_;
  const Query::Id& id = query_.ids[index];
  if (rows_++ > 0) body.push_back(',');
  body.push_back('{');
  AppendJsonString(query_.input, &body);
  body.push_back(':');
  if (id.is_number) {
    body.append(id.text);
  } else {
    AppendJsonString(id.text, &body);
  }
  size_t prefix = query_.ns.size() + 1;  // "<ns>."
  for (std::string_view output : query_.outputs) {
    body.push_back(',');
    AppendJsonString(output, &body);
    body.push_back(':');
    const StoredFeature* f = Find(features, output.substr(prefix));
    body.append(f != nullptr ? std::string_view(f->value_json) : std::string_view("null"));
  }
  if (query_.include_meta) {
    body.append(",\"meta\":{");
    bool first = true;
    for (std::string_view output : query_.outputs) {
      const StoredFeature* f = Find(features, output.substr(prefix));
      if (f == nullptr) continue;
      if (!first) body.push_back(',');
      first = false;
      AppendJsonString(output, &body);
      body.append(":{\"time_ms\":");
      AppendInteger(f->time_ms, &body);
      body.append(",\"offset\":");
      AppendInteger(f->offset, &body);
      body.push_back('}');
    }
    body.push_back('}');
  }
  body.push_back('}');
}

void QueryRowWriter::Finish() { body_->append("]}"); }

}  // namespace statefold
