// /v1/token (the caller's own) and /v1/tokens (the server's, for admins).

#include <fmt/format.h>

#include "server/auth.h"
#include "server/routes.h"
#include "store/record_json.h"

namespace kiln::server {

using nlohmann::json;

void AddTokenRoutes(http::Listener& server, ServerState& state) {
  store::Store& store = state.workspace.store();

  // Which token this is and what it may do: how a client (the web UI) logs in.
  server.Get("/v1/token", Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const Caller caller, CallerOf(state, request));
               KILN_ASSIGN_OR_RETURN(const store::ApiToken token,
                                     store.GetApiToken(caller.token_id));
               return store::ToJson(token);
             }));

  // ?all=true adds the run tokens of launchers.
  server.Get("/v1/tokens", Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::ApiToken> tokens,
                                     store.ListApiTokens(request.get_param_value("all") == "true"));
               return JsonList("tokens", tokens);
             }));

  // {"name": ..., "role": ...}: the new token with its secret, shown this once.
  server.Post(
      "/v1/tokens",
      Json(
          [&](const httplib::Request& request) -> Result<json> {
            KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
            if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
              return InvalidArgumentError("the body needs 'name': who or what the token is for");
            }
            store::TokenRole role = store::kDefaultTokenRole;
            if (body.contains("role")) {
              const std::string text =
                  body["role"].is_string() ? body["role"].get<std::string>() : body["role"].dump();
              const auto parsed = store::ParseTokenRole(text);
              if (!parsed) {
                return InvalidArgumentError(
                    fmt::format("role: '{}' is not a role; use viewer, member or admin", text));
              }
              role = *parsed;
            }
            KILN_ASSIGN_OR_RETURN(const MintedToken minted,
                                  MintToken(store, body["name"].get<std::string>(), role));
            json out = store::ToJson(minted.record);
            out["secret"] = minted.secret;
            return out;
          },
          201));

  server.Delete(R"(/v1/tokens/([^/]+))", Json([&](const httplib::Request& request) -> Result<json> {
                  const std::string id = request.matches[1].str();
                  KILN_RETURN_IF_ERROR(store.RevokeApiToken(id));
                  KILN_ASSIGN_OR_RETURN(const store::ApiToken token, store.GetApiToken(id));
                  return store::ToJson(token);
                }));
}

}  // namespace kiln::server
