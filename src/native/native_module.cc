// Loading native resolver modules with dlopen.

#include "native/native_module.h"

#include <dlfcn.h>

#include <exception>

namespace statefold {

Status NativeModule::Load(const std::string& path, std::unique_ptr<NativeModule>* module) {
  // RTLD_LOCAL: two modules may define the same symbols; RTLD_NOW: fail here, not mid-run.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    return Status::InvalidArgument("cannot load native module " + path + ": " +
                                   (error != nullptr ? error : "unknown error"));
  }
  auto version = reinterpret_cast<int (*)()>(dlsym(handle, "statefold_native_api_version"));
  auto body = reinterpret_cast<void (*)(NativeRegistry*)>(dlsym(handle, "statefold_native_module"));
  if (version == nullptr || body == nullptr) {
    return Status::InvalidArgument(path +
                                   " is not a statefold native module (it defines no "
                                   "STATEFOLD_NATIVE_MODULE)");
  }
  if (version() != STATEFOLD_NATIVE_API_VERSION) {
    return Status::InvalidArgument(path + " was built for native API version " +
                                   std::to_string(version()) + ", and this statefold has " +
                                   std::to_string(STATEFOLD_NATIVE_API_VERSION) +
                                   ": rebuild it against this statefold's headers");
  }
  std::unique_ptr<NativeModule> loaded(new NativeModule(path));
  try {
    body(&loaded->registry_);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("native module " + path + " failed to register: " + e.what());
  }
  if (loaded->registry_.resolvers().empty()) {
    return Status::InvalidArgument("native module " + path + " registers no resolver");
  }
  *module = std::move(loaded);
  return Status::Ok();
}

}  // namespace statefold
