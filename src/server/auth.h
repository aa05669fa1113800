#pragma once

// API tokens of a Kiln server (docs/server.md, "Tokens").
//
// A token's secret reads "kiln_<id>_<64 hex digits>": the id names the stored record and
// the rest is 256 random bits. Only the secret's SHA-256 is stored, so neither the store
// nor a log ever holds a usable secret; it is shown once, when the token is made.
// A user token has a role (store/token_role.h) that route_access.h weighs against each
// endpoint. A run token (made by the server for each run's launcher) carries its run id, is
// valid for that run's endpoints only, and is revoked when the run ends (store.h).

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

// AlreadyExists for a taken name; InvalidArgument for an empty name or one with characters
// outside letters, digits and ".@:_-" in a user token's name (names appear in the access log
// and in runs' records).
Result<MintedToken> MintToken(store::Store& store, std::string_view name, store::TokenRole role,
                              std::optional<std::string> run_id = std::nullopt);

// Who a request comes from.
struct Caller {
  std::string token_id;
  std::string token_name;
  store::TokenRole role = store::TokenRole::kViewer;  // not consulted for a run token
  std::optional<std::string> run_id;                  // a run token's run
};

// Checks an "Authorization" header value ("Bearer <secret>"). Unauthenticated, with the
// reason, for a missing, malformed, unknown, wrong or revoked token; the secret is never
// part of a message.
Result<Caller> Authenticate(store::Store& store, std::string_view authorization);

}  // namespace kiln::server
