// NativeModule: a shared library of native resolvers (one that defines
// STATEFOLD_NATIVE_MODULE, see include/statefold/native.h), loaded into this process.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "statefold/native.h"
#include "statefold/status.h"

namespace statefold {

class NativeModule {
 public:
  // Loads `path` and runs its registration. Fails, naming the path, when the library does not
  // load, is not a statefold module, was built for another native API version, or registers
  // no resolver. The library stays loaded for the life of the process (as Python extension
  // modules do): its code may still be referenced from states and stacks being unwound.
  static Status Load(const std::string& path, std::unique_ptr<NativeModule>* module);

  const std::string& path() const { return path_; }
  // The module's resolvers, in registration order; they live as long as the module.
  std::vector<Resolver*> resolvers() const { return registry_.resolvers(); }

 private:
  explicit NativeModule(std::string path) : path_(std::move(path)) {}

  std::string path_;
  NativeRegistry registry_;
};

}  // namespace statefold
