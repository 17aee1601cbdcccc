// Status::ToString.

#include "statefold/status.h"

namespace statefold {

std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "Invalid argument: " + message_;
    case Code::kNotFound:
      return "Not found: " + message_;
    case Code::kCorruption:
      return "Corruption: " + message_;
    case Code::kIOError:
      return "IO error: " + message_;
    case Code::kAborted:
      return "Aborted: " + message_;
  }
  return message_;
}

}  // namespace statefold
