// JSON text helpers shared by every writer of feature values and state dumps, so that the
// Python and native resolvers produce byte-identical feature values.
#pragma once

#include <string>
#include <string_view>

namespace statefold {

// Appends `text` (UTF-8) as a JSON string literal: quotes, backslashes and control
// characters escaped, everything else verbatim.
void AppendJsonString(std::string_view text, std::string* out);

// Appends a double as JSON: the shortest text that reads back as the same double, always
// with a '.', 'e' or 'n' so that it stays distinguishable from an int ("3.0", not "3");
// null for NaN and infinities (JSON has neither).
void AppendJsonDouble(double value, std::string* out);

// Appends `bytes` (any bytes) as a JSON string of their base64 (RFC 4648, padded).
void AppendJsonBase64(std::string_view bytes, std::string* out);

}  // namespace statefold
