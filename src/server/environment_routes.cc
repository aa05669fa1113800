// /v1/environments: registered job environments with their versions
// (client/environment_registry.h), on the server's store.

#include <fmt/format.h>

#include "client/environment_registry.h"
#include "server/routes.h"
#include "store/record_json.h"

namespace kiln::server {

using nlohmann::json;

namespace {

json RegisteredJson(const client::RegisteredEnvironment& registered) {
  store::EnvironmentVersion version{registered.spec.name, registered.version,
                                    env::EnvironmentToJson(registered.spec).dump(),
                                    registered.created_at};
  return store::ToJson(version);
}

}  // namespace

void AddEnvironmentRoutes(http::Listener& server, ServerState& state) {
  client::Workspace& workspace = state.workspace;

  server.Post(
      "/v1/environments",
      Json(
          [&](const httplib::Request& request) -> Result<json> {
            KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
            if (!body.is_object() || !body.contains("definition")) {
              return InvalidArgumentError(
                  "the body needs 'name' and 'definition' (an "
                  "environment's JSON form)");
            }
            json definition = body["definition"];
            if (body.contains("name") && definition.is_object()) {
              definition["name"] = body["name"];
            }
            Result<env::EnvironmentSpec> spec = env::EnvironmentFromJson(definition);
            if (!spec.ok()) {
              return InvalidArgumentError(fmt::format("definition: {}", spec.status().message()));
            }
            KILN_ASSIGN_OR_RETURN(const client::RegisteredEnvironment registered,
                                  client::EnvironmentRegistry(workspace).Register(*spec));
            return RegisteredJson(registered);
          },
          201));

  server.Get("/v1/environments", Json([&](const httplib::Request&) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<client::RegisteredEnvironment> latest,
                                     client::EnvironmentRegistry(workspace).List());
               json out = json::array();
               for (const auto& one : latest) out.push_back(RegisteredJson(one));
               return json{{"environments", out}};
             }));

  server.Get(R"(/v1/environments/([^/]+)/versions)",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(
                   const std::vector<client::RegisteredEnvironment> versions,
                   client::EnvironmentRegistry(workspace).List(request.matches[1].str()));
               json out = json::array();
               for (const auto& one : versions) out.push_back(RegisteredJson(one));
               return json{{"environments", out}};
             }));

  server.Get(R"(/v1/environments/([^/]+)/versions/([^/]+))",
             Json([&](const httplib::Request& request) -> Result<json> {
               const std::string version = request.matches[2].str();
               const std::string reference =
                   version == "latest" ? request.matches[1].str()
                                       : fmt::format("{}:{}", request.matches[1].str(), version);
               KILN_ASSIGN_OR_RETURN(const client::RegisteredEnvironment registered,
                                     client::EnvironmentRegistry(workspace).Get(reference));
               return RegisteredJson(registered);
             }));
}

}  // namespace kiln::server
