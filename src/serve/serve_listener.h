#pragma once

// The listener of `kiln serve`, the same for every way of scoring (scoring_server.h,
// script_server.h): http::Listener with the serve options (TLS, the body limit, keep-alive
// connections), and the bearer token of --token-file: every path but /health needs
// "Authorization: Bearer <token>"; without it, or with another token, the reply is a 401
// with WWW-Authenticate and the body is not read.

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/listener.h"
#include "serve/scoring_server.h"

namespace kiln::serve {

// Compares digests, so the time taken says nothing about the token. Unauthenticated with
// what is wrong.
Status CheckBearer(std::string_view authorization, std::string_view token_sha256);

// Installs the check as `listener`'s pre-routing handler; nothing when `token` is empty.
void RequireBearerToken(http::Listener& listener, const std::string& token);

// Opens the listener for `options` (its batching fields aside), with the token check.
Result<std::unique_ptr<http::Listener>> OpenServeListener(const ScoringServerOptions& options);

}  // namespace kiln::serve
