#pragma once

// StoreAccess: how a launcher reaches its run's store. The parts that are secrets (a run's
// API token, a password in the store URL) are never written to plan.json: plan.json holds
// the store URL with its credentials redacted, and the compute target hands the launcher
// the real ones in its environment:
//   KILN_RUN_STORE  the store URL, credentials included
//   KILN_RUN_TOKEN  the run's own API token for a Kiln server (docs/server.md)
// The launcher passes them on to the rank shims of a cluster run (which ask the store
// whether the run has ended) and to nothing else; the shim removes them before it starts
// the rank, and no rank inherits them (rank_env.h).

#include <string>
#include <string_view>
#include <vector>

#include "launch/run_plan.h"

namespace kiln::launch {

inline constexpr std::string_view kStoreUrlVariable = "KILN_RUN_STORE";
inline constexpr std::string_view kStoreTokenVariable = "KILN_RUN_TOKEN";

struct StoreAccess {
  std::string url;      // credentials included
  std::string token;    // a Kiln server's per-run token; empty for a direct store
  std::string ca_file;  // for an https server; not a secret (it is in plan.json)

  // A Kiln server's store, across a network.
  bool remote() const { return !token.empty(); }
};

// "NAME=value" entries for the launcher's environment; a variable with an empty value is
// left out.
std::vector<std::string> StoreAccessVariables(const StoreAccess& access);

// The store of `plan`, with the URL and token from `env` ("NAME=value") where they are set:
// the plan's (redacted) URL alone works for a store without credentials.
StoreAccess StoreAccessOf(const RunPlan& plan, const std::vector<std::string>& env);

bool IsStoreAccessVariable(std::string_view name);

}  // namespace kiln::launch
