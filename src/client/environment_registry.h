#pragma once

// Named job environments registered for reuse (`kiln env register`, Environment.register in
// the SDK), with versions, kept in the workspace's store: through a server, the server's,
// so every client and the server itself resolve a name alike. A job names one with
// `environment: NAME` (the latest version) or `NAME:VERSION`; registering a name again with
// another definition makes its next version, and the same definition again makes none.
//
// Definitions an older Kiln registered as files ($KILN_HOME/environments/<name>.json) are
// taken into the store as version 1 the first time the registry is used, for names the
// store does not have yet.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "common/time.h"
#include "env/environment_spec.h"

namespace kiln::client {

struct RegisteredEnvironment {
  env::EnvironmentSpec spec;
  std::int64_t version = 0;
  Timestamp created_at = 0;
};

class EnvironmentRegistry {
 public:
  explicit EnvironmentRegistry(Workspace& workspace) : workspace_(workspace) {}

  // InvalidArgument for a definition without a valid name.
  Result<RegisteredEnvironment> Register(const env::EnvironmentSpec& spec);
  // `reference` is NAME (the latest version) or NAME:VERSION. NotFound naming `kiln env
  // list`, or the versions there are.
  Result<RegisteredEnvironment> Get(std::string_view reference);
  // Without a name, the latest version of each, by name; with one, its versions, newest
  // first.
  Result<std::vector<RegisteredEnvironment>> List(std::string_view name = "");

 private:
  Status ImportFiles();

  Workspace& workspace_;
  bool imported_ = false;
};

// NAME or NAME:VERSION split; InvalidArgument naming what is wrong.
Result<std::pair<std::string, std::int64_t>> ParseEnvironmentReference(std::string_view text);

}  // namespace kiln::client
