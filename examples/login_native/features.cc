// The native module: `statefold run liblogin_features.so --input logins.jsonl`.

#include "login.h"

STATEFOLD_NATIVE_MODULE(registry) { login::Register(registry); }
