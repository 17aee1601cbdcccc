// RunStatus's JSON form (see run_status.h).

#include "state/run_status.h"

#include <simdjson.h>

#include <charconv>

#include "state/state_layout.h"
#include "statefold/json_text.h"
#include "util/number_text.h"

namespace statefold {
namespace {

void AppendMember(std::string_view name, std::string* out) {
  AppendJsonString(name, out);
  out->push_back(':');
}

Status Malformed(std::string_view what) {
  return Status::Corruption("the run status record is malformed: " + std::string(what));
}

// Reads member `name` of `object` into *out when present (and not null, for optionals).
template <class T>
Status ReadMember(simdjson::dom::object object, std::string_view name, T* out) {
  simdjson::dom::element e;
  if (object[name].get(e)) return Status::Ok();  // absent
  if constexpr (std::is_same_v<T, double>) {
    if (e.get_double().get(*out)) return Malformed(std::string(name) + " is not a number");
  } else if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
    if (e.is_null()) {
      out->reset();
      return Status::Ok();
    }
    int64_t value;
    if (e.get_int64().get(value)) return Malformed(std::string(name) + " is not an integer");
    *out = value;
  } else if constexpr (std::is_signed_v<T>) {
    int64_t value;
    if (e.get_int64().get(value)) return Malformed(std::string(name) + " is not an integer");
    *out = static_cast<T>(value);
  } else {
    uint64_t value;
    if (e.get_uint64().get(value)) return Malformed(std::string(name) + " is not a count");
    *out = static_cast<T>(value);
  }
  return Status::Ok();
}

// The object member `name` of `object`; an empty object when absent.
Status ReadObject(simdjson::dom::object object, std::string_view name, simdjson::dom::object* out,
                  bool* present) {
  simdjson::dom::element e;
  *present = !object[name].get(e);
  if (*present && e.get_object().get(*out))
    return Malformed(std::string(name) + " is not an object");
  return Status::Ok();
}

// A partition number, the name of its member.
Status ReadPartitionNumber(std::string_view number, int32_t* partition) {
  if (std::from_chars(number.data(), number.data() + number.size(), *partition).ptr !=
      number.data() + number.size()) {
    return Malformed("partition " + std::string(number) + " is not a number");
  }
  return Status::Ok();
}

}  // namespace

std::string RunStatus::ToJson() const {
  std::string json = "{\"updated_ms\":";
  AppendInteger(updated_ms, &json);
  json += ",\"run\":{\"started_ms\":";
  AppendInteger(started_ms, &json);
  const std::pair<const char*, uint64_t> counters[] = {{"messages", messages},
                                                       {"outputs", outputs},
                                                       {"resolver_errors", resolver_errors},
                                                       {"dead_letters", dead_letters},
                                                       {"checkpoints", checkpoints}};
  for (const auto& [name, value] : counters) {
    json += ",\"";
    json += name;
    json += "\":";
    AppendInteger(value, &json);
  }
  json += ",\"last_checkpoint_commit_ms\":";
  AppendShortestDouble(last_checkpoint_commit_ms, &json);
  json += "},\"sources\":{";
  for (size_t s = 0; s < sources.size(); ++s) {
    if (s > 0) json += ",";
    AppendMember(sources[s].name, &json);
    json += "{\"skipped_late\":";
    AppendInteger(sources[s].skipped_late, &json);
    json += ",\"partitions\":{";
    for (size_t i = 0; i < sources[s].partitions.size(); ++i) {
      const Partition& p = sources[s].partitions[i];
      if (i > 0) json += ",";
      json += "\"";
      AppendInteger(p.partition, &json);
      json += "\":{\"next_offset\":";
      AppendInteger(p.next_offset, &json);
      json += ",\"lag\":";
      if (p.lag) {
        AppendInteger(*p.lag, &json);
      } else {
        json += "null";
      }
      json += "}";
    }
    json += "},\"refused\":{";
    for (size_t i = 0; i < sources[s].refused.size(); ++i) {
      const RefusedPartition& r = sources[s].refused[i];
      if (i > 0) json += ",";
      json += "\"";
      AppendInteger(r.partition, &json);
      json += "\":";
      AppendJsonString(r.reason, &json);
    }
    json += "}}";
  }
  json += "},\"resolvers\":{";
  for (size_t i = 0; i < resolvers.size(); ++i) {
    if (i > 0) json += ",";
    AppendMember(resolvers[i].name, &json);
    json += "{\"keys\":";
    AppendInteger(resolvers[i].keys, &json);
    json += "}";
  }
  return json + "}}";
}

Status RunStatus::Parse(std::string_view json, RunStatus* status) {
  *status = RunStatus();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) return Malformed("not JSON");
  simdjson::dom::object top, run, sources, resolvers;
  if (root.get_object().get(top)) return Malformed("not an object");
  STATEFOLD_RETURN_IF_ERROR(ReadMember(top, "updated_ms", &status->updated_ms));
  bool present;
  STATEFOLD_RETURN_IF_ERROR(ReadObject(top, "run", &run, &present));
  if (present) {
    STATEFOLD_RETURN_IF_ERROR(ReadMember(run, "started_ms", &status->started_ms));
    STATEFOLD_RETURN_IF_ERROR(ReadMember(run, "messages", &status->messages));
    STATEFOLD_RETURN_IF_ERROR(ReadMember(run, "outputs", &status->outputs));
    STATEFOLD_RETURN_IF_ERROR(ReadMember(run, "resolver_errors", &status->resolver_errors));
    STATEFOLD_RETURN_IF_ERROR(ReadMember(run, "dead_letters", &status->dead_letters));
    STATEFOLD_RETURN_IF_ERROR(ReadMember(run, "checkpoints", &status->checkpoints));
    STATEFOLD_RETURN_IF_ERROR(
        ReadMember(run, "last_checkpoint_commit_ms", &status->last_checkpoint_commit_ms));
  }
  STATEFOLD_RETURN_IF_ERROR(ReadObject(top, "sources", &sources, &present));
  if (present) {
    for (simdjson::dom::key_value_pair member : sources) {
      Source& source = status->sources.emplace_back();
      source.name = std::string(member.key);
      simdjson::dom::object object, partitions;
      if (member.value.get_object().get(object)) return Malformed("a source is not an object");
      STATEFOLD_RETURN_IF_ERROR(ReadMember(object, "skipped_late", &source.skipped_late));
      bool has_partitions, has_refused;
      STATEFOLD_RETURN_IF_ERROR(ReadObject(object, "partitions", &partitions, &has_partitions));
      if (has_partitions) {
        for (simdjson::dom::key_value_pair p : partitions) {
          Partition& partition = source.partitions.emplace_back();
          STATEFOLD_RETURN_IF_ERROR(ReadPartitionNumber(p.key, &partition.partition));
          simdjson::dom::object fields;
          if (p.value.get_object().get(fields)) return Malformed("a partition is not an object");
          STATEFOLD_RETURN_IF_ERROR(ReadMember(fields, "next_offset", &partition.next_offset));
          STATEFOLD_RETURN_IF_ERROR(ReadMember(fields, "lag", &partition.lag));
        }
      }
      simdjson::dom::object refused;
      STATEFOLD_RETURN_IF_ERROR(ReadObject(object, "refused", &refused, &has_refused));
      if (has_refused) {
        for (simdjson::dom::key_value_pair p : refused) {
          RefusedPartition& partition = source.refused.emplace_back();
          STATEFOLD_RETURN_IF_ERROR(ReadPartitionNumber(p.key, &partition.partition));
          std::string_view reason;
          if (p.value.get_string().get(reason)) return Malformed("a refusal is not a string");
          partition.reason = std::string(reason);
        }
      }
    }
  }
  STATEFOLD_RETURN_IF_ERROR(ReadObject(top, "resolvers", &resolvers, &present));
  if (present) {
    for (simdjson::dom::key_value_pair member : resolvers) {
      Resolver& resolver = status->resolvers.emplace_back();
      resolver.name = std::string(member.key);
      simdjson::dom::object object;
      if (member.value.get_object().get(object)) return Malformed("a resolver is not an object");
      STATEFOLD_RETURN_IF_ERROR(ReadMember(object, "keys", &resolver.keys));
    }
  }
  return Status::Ok();
}

void RunStatus::Stage(CheckpointBatch* batch) const {
  batch->PutMeta(state_layout::kRunStatusKey, ToJson());
}

Status RunStatus::Read(StateStore* store, RunStatus* status) {
  std::string json;
  bool found;
  STATEFOLD_RETURN_IF_ERROR(store->GetMeta(state_layout::kRunStatusKey, &json, &found));
  if (!found) return Status::NotFound("no checkpoint has been written yet");
  return Parse(json, status);
}

}  // namespace statefold
