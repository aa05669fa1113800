#pragma once

// The role of a Kiln server's API token (docs/server.md, "Tokens and roles"). Each role holds
// the powers of the ones before it:
//
//   viewer  reads everything: runs, logs, metrics, artifacts, models, the catalogs
//   member  also submits and cancels runs and registers models
//   admin   also manages tokens, compute targets and datastores
//
// A run token (a launcher's) has no role: it is scoped to its own run instead (auth.h).

#include <optional>
#include <string_view>

namespace kiln::store {

enum class TokenRole { kViewer, kMember, kAdmin };

// What `kiln server token create` gives without --role: a teammate's day-to-day powers.
// Admin is never a default; it is asked for by name.
inline constexpr TokenRole kDefaultTokenRole = TokenRole::kMember;

// Every role, weakest first.
inline constexpr TokenRole kAllTokenRoles[] = {TokenRole::kViewer, TokenRole::kMember,
                                               TokenRole::kAdmin};

// "viewer", "member", "admin": as stored and as the API and CLI spell them.
std::string_view TokenRoleName(TokenRole role);
// Exact, lower-case names only; nullopt for anything else.
std::optional<TokenRole> ParseTokenRole(std::string_view name);

// True when a token with role `held` may do what needs `needed`.
inline bool RoleCovers(TokenRole held, TokenRole needed) { return held >= needed; }

}  // namespace kiln::store
