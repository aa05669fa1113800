#pragma once

// API tokens of a Kiln server (docs/server.md, "Tokens").
//
// A token's secret reads "kiln_<id>_<64 hex digits>": the id names the stored record and
// the rest is 256 random bits. Only the secret's SHA-256 is stored, so neither the store
// nor a log ever holds a usable secret; it is shown once, when the token is made.
// A run token (made by the server for each run's launcher) carries its run id and is valid
// for that run's endpoints only.

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/store.h"

namespace kiln::server {

struct MintedToken {
  store::ApiToken record;
  std::string secret;  // shown once
};

// AlreadyExists for a taken name.
Result<MintedToken> MintToken(store::Store& store, std::string_view name,
                              std::optional<std::string> run_id = std::nullopt);

// Who a request comes from.
struct Caller {
  std::string token_id;
  std::optional<std::string> run_id;  // a run token's run
};

// Checks an "Authorization" header value ("Bearer <secret>"). Unauthenticated, with the
// reason, for a missing, malformed, unknown, wrong or revoked token; the secret is never
// part of a message.
Result<Caller> Authenticate(store::Store& store, std::string_view authorization);

}  // namespace kiln::server
