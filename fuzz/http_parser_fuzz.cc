// libFuzzer target: the HTTP/1.1 request-head parser (src/serve/http_parser.h). The input is a
// connection's input buffer. Whatever it holds:
//   - kError names a status the parser documents (400, 411, 413, 431, 501, 505) and a reason;
//   - kComplete gives a head size within the input, within max_header_bytes (after the empty
//     lines it skips), views (method, target, path, query, headers) that lie inside the head,
//     a Content-Length within max_body_bytes and no more headers than max_headers;
//   - the outcome is the same when the bytes arrive in pieces: every prefix of a complete
//     head is kIncomplete, and every prefix of an input that fails is kIncomplete or fails
//     with the same status (a parser that errs on a prefix of a valid request would drop
//     requests that arrive in two TCP segments);
//   - PercentDecode of the path never reads past it.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "serve/http_parser.h"

namespace {

using statefold::HttpLimits;
using statefold::HttpParseResult;
using statefold::HttpRequest;

struct Parsed {
  HttpParseResult result;
  HttpRequest request;
  size_t head_size = 0;
  int status = 0;
  std::string message;
};

Parsed Parse(std::string_view input, const HttpLimits& limits) {
  Parsed p;
  p.result = statefold::ParseHttpRequestHead(input, limits, &p.request, &p.head_size, &p.status,
                                             &p.message);
  return p;
}

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "http_parser_fuzz: %s\ninput (%zu bytes): ", what, input.size());
  for (unsigned char c : input) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

bool Inside(std::string_view view, std::string_view head) {
  return view.empty() ||
         (view.data() >= head.data() && view.data() + view.size() <= head.data() + head.size());
}

void CheckComplete(const Parsed& p, std::string_view input, const HttpLimits& limits) {
  if (p.head_size == 0 || p.head_size > input.size()) Fail("head size outside the input", input);
  const std::string_view head = input.substr(0, p.head_size);
  const HttpRequest& r = p.request;
  if (r.method.empty() || r.target.empty()) Fail("a request without method or target", input);
  // An absolute-form target without a path has the path "/", a static string.
  if (!Inside(r.method, head) || !Inside(r.target, head) ||
      !(Inside(r.path, head) || r.path == "/") || !Inside(r.query, head)) {
    Fail("a request-line view outside the head", input);
  }
  for (const auto& header : r.headers) {
    if (header.name.empty()) Fail("a header without a name", input);
    if (!Inside(header.name, head) || !Inside(header.value, head)) {
      Fail("a header view outside the head", input);
    }
  }
  if (r.headers.size() > limits.max_headers) Fail("more headers than max_headers", input);
  if (r.content_length > limits.max_body_bytes) Fail("a body beyond max_body_bytes", input);
  size_t skipped = 0;  // the empty lines before the request line
  while (skipped < head.size() && (head[skipped] == '\r' || head[skipped] == '\n')) ++skipped;
  if (p.head_size - skipped > limits.max_header_bytes) Fail("a head beyond the limit", input);
  if (!r.body.empty()) Fail("a head with a body", input);
  std::string decoded;
  (void)statefold::PercentDecode(r.path, &decoded);
  if (decoded.size() > r.path.size()) Fail("PercentDecode grew the path", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;  // the prefix checks are quadratic
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Small limits, so that the fuzzer reaches them.
  HttpLimits limits;
  limits.max_header_bytes = 512;
  limits.max_body_bytes = 1000;
  limits.max_headers = 8;
  // The input is copied so that a read past its end is a heap overflow ASan reports.
  const std::string copy(input);
  const Parsed whole = Parse(copy, limits);
  switch (whole.result) {
    case HttpParseResult::kError:
      switch (whole.status) {
        case 400:
        case 411:
        case 413:
        case 431:
        case 501:
        case 505:
          break;
        default:
          Fail("an undocumented error status", input);
      }
      if (whole.message.empty()) Fail("an error without a reason", input);
      break;
    case HttpParseResult::kComplete:
      CheckComplete(whole, copy, limits);
      break;
    case HttpParseResult::kIncomplete:
      break;
  }
  const size_t end = whole.result == HttpParseResult::kComplete ? whole.head_size : input.size();
  for (size_t cut = 0; cut < end; ++cut) {
    const std::string prefix(input.substr(0, cut));
    const Parsed part = Parse(prefix, limits);
    if (part.result == HttpParseResult::kComplete) {
      Fail(whole.result == HttpParseResult::kComplete ? "a prefix of a head is complete"
                                                      : "a prefix is complete, the whole is not",
           input.substr(0, cut));
    }
    if (part.result == HttpParseResult::kError) {
      if (whole.result != HttpParseResult::kError) {
        Fail("a prefix fails, the whole does not", input);
      }
      if (part.status != whole.status) Fail("a prefix fails with another status", input);
    }
  }
  return 0;
}
