// JSON text helpers shared by every writer of feature values and state dumps, so that the
// Python and native resolvers produce byte-identical feature values.
#pragma once

#include <string>
#include <string_view>

namespace statefold {

// Appends `text` (UTF-8) as a JSON string literal: quotes, backslashes and control
// characters escaped, everything else verbatim.
void AppendJsonString(std::string_view text, std::string* out);

// Appends a finite double as JSON: the shortest text that reads back as the same double,
// always with a '.' or 'e' so that it stays distinguishable from an int ("3.0", not "3"),
// and returns true. NaN and infinities have no JSON number: appends nothing, returns false.
[[nodiscard]] bool AppendJsonDouble(double value, std::string* out);

// Why a feature value holding `value` (NaN or an infinity) is refused: the one reason text of
// Python and native resolvers (docs/semantics.md, Outputs).
std::string NonFiniteFeatureReason(double value);

// The JSON text a non-finite double takes where a schema says it is a float (a state's JSON
// view): "\"NaN\"", "\"Infinity\"" or "\"-Infinity\"", strings that Python's float() and
// strtod read back. REQUIRES: !std::isfinite(value).
std::string_view NonFiniteJsonString(double value);

// Appends `bytes` (any bytes) as a JSON string of their base64 (RFC 4648, padded).
void AppendJsonBase64(std::string_view bytes, std::string* out);

}  // namespace statefold
