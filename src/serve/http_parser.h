// HTTP/1.1 request parsing (RFC 9112) for the serving API: the request line and headers of
// one request, read in place from a connection's input buffer. Only what a JSON API needs:
// Content-Length bodies (a Transfer-Encoding body is refused), keep-alive, Expect:
// 100-continue. Every failure names the status to answer with; the connection then closes,
// since the position of the next request in the stream is unknown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace statefold {

struct HttpHeader {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;  // without surrounding whitespace
};

// One request. The views point into the connection's input buffer: valid until the handler
// returns.
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // the request-target as sent
  std::string_view path;    // the target's path (absolute-form reduced to it), still encoded
  std::string_view query;   // after '?', without it
  int minor_version = 1;    // HTTP/1.<minor_version>
  bool keep_alive = true;   // the connection stays open after the response
  bool expect_continue = false;
  size_t content_length = 0;
  std::string_view body;
  std::vector<HttpHeader> headers;

  // The value of the first header named `name` (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpLimits {
  size_t max_header_bytes = 16 << 10;  // request line and headers; beyond: 431
  size_t max_body_bytes = 1 << 20;     // Content-Length beyond: 413
  size_t max_headers = 100;            // header lines beyond: 431
};

enum class HttpParseResult : unsigned char {
  kComplete,    // the head is complete: *head_size bytes, then content_length body bytes
  kIncomplete,  // a valid beginning of a request: more bytes are needed
  kError,       // answer with *error_status and close the connection
};

// Parses the head of the request at the start of `input` into `request` (its body is left
// empty). Empty lines before the request line are skipped (RFC 9112 2.2) and counted in
// *head_size. An incomplete head is checked as far as it goes, so that bytes that cannot
// begin an HTTP request fail at once rather than when a line ends.
// On kError, *error_status is 400, 411, 413, 431, 501 or 505 and *error_message says why.
HttpParseResult ParseHttpRequestHead(std::string_view input, const HttpLimits& limits,
                                     HttpRequest* request, size_t* head_size, int* error_status,
                                     std::string* error_message);

// Decodes %XX escapes ("+" stays "+": this is for paths). False on a malformed escape.
bool PercentDecode(std::string_view text, std::string* out);

// The reason phrase of a status code ("Not Found"), or "Unknown".
std::string_view HttpReasonPhrase(int status);

}  // namespace statefold
