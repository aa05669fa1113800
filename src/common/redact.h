#pragma once

// Credentials kept out of what people read (logs, plan.json, messages).

#include <string>
#include <string_view>

namespace kiln {

// What replaces a secret.
inline constexpr std::string_view kRedacted = "***";

// `text` with the credentials of every URL in it ("scheme://...") replaced by kRedacted:
//   https://user:secret@host/x      -> https://user:***@host/x
//   https://ghp_token@host/x        -> https://***@host/x   (on the web a user alone is
//                                                             often a token, as pip takes it;
//                                                             postgresql://kiln@h stays)
//   postgresql://h/db?password=s    -> postgresql://h/db?password=***  (also *token*,
//                                                             *secret*, case-insensitive)
// Everything else is left as it is; text without a URL comes back unchanged.
std::string RedactUrlCredentials(std::string_view text);

}  // namespace kiln
