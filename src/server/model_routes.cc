// /v1/models: the model registry (client/model_registry.h), on the server's store and model
// store. Registering copies a file from one of the server's runs; the file route serves it.

#include <fmt/format.h>

#include "client/model_deployment.h"
#include "client/model_registry.h"
#include "server/file_reply.h"
#include "server/routes.h"
#include "store/record_json.h"

namespace kiln::server {

using nlohmann::json;

namespace {

// "latest" or a version number, from a path segment.
Result<std::int64_t> PathVersion(const httplib::Request& request, std::size_t index) {
  const std::string text = request.matches[index].str();
  if (text == "latest") return std::int64_t{0};
  KILN_ASSIGN_OR_RETURN(const auto parsed, client::ParseModelRef(fmt::format(
                                               "{}:{}", request.matches[1].str(), text)));
  return parsed.second;
}

Result<client::ModelRegistration> RegistrationFromJson(const json& body) {
  client::ModelRegistration r;
  const auto text = [&](const char* key, bool required, std::string* out) -> Status {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) {
      return required ? InvalidArgumentError(fmt::format("model.{}: missing", key)) : Status::Ok();
    }
    if (!it->is_string())
      return InvalidArgumentError(fmt::format("model.{}: expected a string", key));
    *out = it->get<std::string>();
    return Status::Ok();
  };
  if (!body.is_object()) return InvalidArgumentError("model: expected a JSON object");
  KILN_RETURN_IF_ERROR(text("name", true, &r.name));
  KILN_RETURN_IF_ERROR(text("run", true, &r.run));
  KILN_RETURN_IF_ERROR(text("path", false, &r.path));
  KILN_RETURN_IF_ERROR(text("description", false, &r.description));
  if (const auto tags = body.find("tags"); tags != body.end() && !tags->is_null()) {
    if (!tags->is_object()) return InvalidArgumentError("model.tags: expected an object");
    for (const auto& [key, value] : tags->items()) {
      if (!value.is_string()) {
        return InvalidArgumentError(fmt::format("model.tags.{}: expected a string", key));
      }
      r.tags.emplace_back(key, value.get<std::string>());
    }
  }
  return r;
}

}  // namespace

void AddModelRoutes(http::Listener& server, ServerState& state) {
  client::Workspace& workspace = state.workspace;

  server.Get("/v1/models", Json([&](const httplib::Request&) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::ModelVersion> models,
                                     workspace.store().ListModelVersions(""));
               return JsonList("models", models);
             }));

  server.Post("/v1/models", Json(
                                [&](const httplib::Request& request) -> Result<json> {
                                  KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
                                  KILN_ASSIGN_OR_RETURN(const client::ModelRegistration r,
                                                        RegistrationFromJson(body));
                                  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                                                        client::RegisterModel(workspace, r));
                                  return store::ToJson(model);
                                },
                                201));

  server.Get(R"(/v1/models/([^/]+)/versions)",
             Json([&](const httplib::Request& request) -> Result<json> {
               const std::string name = request.matches[1].str();
               KILN_ASSIGN_OR_RETURN(const std::vector<store::ModelVersion> models,
                                     workspace.store().ListModelVersions(name));
               if (models.empty())
                 return NotFoundError(fmt::format("model '{}' is not registered", name));
               return JsonList("models", models);
             }));

  server.Get(R"(/v1/models/([^/]+)/versions/([^/]+))",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::int64_t version, PathVersion(request, 2));
               KILN_ASSIGN_OR_RETURN(
                   const store::ModelVersion model,
                   workspace.store().GetModelVersion(request.matches[1].str(), version));
               return store::ToJson(model);
             }));

  server.Delete(
      R"(/v1/models/([^/]+)/versions/([^/]+))",
      Json([&](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const std::int64_t version, PathVersion(request, 2));
        KILN_RETURN_IF_ERROR(client::RemoveModel(workspace, request.matches[1].str(), version));
        return json::object();
      }));

  // A version's scoring-script deployment: the snapshot (sent first, POST /v1/snapshots)
  // and the script in it; the environment by name, in this server's registry.
  server.Post(
      R"(/v1/models/([^/]+)/versions/([^/]+)/deployment)",
      Json([&](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const std::int64_t version, PathVersion(request, 2));
        KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
        if (!body.is_object()) {
          return InvalidArgumentError("deployment: expected a JSON object");
        }
        const auto text = [&](const char* key, bool required) -> Result<std::string> {
          const auto it = body.find(key);
          if (it == body.end() || it->is_null()) {
            if (!required) return std::string();
            return InvalidArgumentError(fmt::format("deployment.{}: missing", key));
          }
          if (!it->is_string()) {
            return InvalidArgumentError(fmt::format("deployment.{}: expected a string", key));
          }
          return it->get<std::string>();
        };
        KILN_ASSIGN_OR_RETURN(const std::string entry, text("entry_script", true));
        KILN_ASSIGN_OR_RETURN(const std::string snapshot, text("snapshot", true));
        KILN_ASSIGN_OR_RETURN(const std::string environment, text("environment", false));
        KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                              client::RecordDeployment(workspace, request.matches[1].str(), version,
                                                       entry, snapshot, environment));
        return store::ToJson(model);
      }));

  server.Delete(
      R"(/v1/models/([^/]+)/versions/([^/]+)/deployment)",
      Json([&](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const std::int64_t version, PathVersion(request, 2));
        KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                              workspace.store().GetModelVersion(request.matches[1].str(), version));
        KILN_ASSIGN_OR_RETURN(const store::ModelVersion undeployed,
                              workspace.store().RemoveModelDeployment(model.name, model.version));
        return store::ToJson(undeployed);
      }));

  server.Get(R"(/v1/models/([^/]+)/versions/([^/]+)/file)", [&](const httplib::Request& request,
                                                                httplib::Response& response) {
    const auto reply = [&]() -> Status {
      KILN_ASSIGN_OR_RETURN(const std::int64_t version, PathVersion(request, 2));
      KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                            workspace.store().GetModelVersion(request.matches[1].str(), version));
      KILN_ASSIGN_OR_RETURN(const std::filesystem::path file, client::ModelFile(workspace, model));
      KILN_RETURN_IF_ERROR(ReplyFile(response, file));
      response.set_header("X-Kiln-Sha256", model.sha256);
      return Status::Ok();
    };
    if (Status status = reply(); !status.ok()) ReplyError(response, status);
  });
}

}  // namespace kiln::server
