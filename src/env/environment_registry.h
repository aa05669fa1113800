#pragma once

// Named environments registered for reuse (`kiln env register`), one file each under
// $KILN_HOME/environments/<name>.json holding the definition. A job names one with
// `environment: NAME`; registering a name again replaces its definition (later runs build
// the new one; runs that used the old one keep it in the cache until pruned).

#include <filesystem>
#include <vector>

#include "common/result.h"
#include "env/environment_spec.h"

namespace kiln::env {

class EnvironmentRegistry {
 public:
  explicit EnvironmentRegistry(std::filesystem::path root) : root_(std::move(root)) {}

  // InvalidArgument for a definition without a valid name.
  Status Register(const EnvironmentSpec& spec);
  // NotFound naming `kiln env list` when there is none by that name.
  Result<EnvironmentSpec> Get(const std::string& name) const;
  // By name.
  Result<std::vector<EnvironmentSpec>> List() const;

 private:
  std::filesystem::path root_;
};

}  // namespace kiln::env
