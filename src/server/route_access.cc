#include "server/route_access.h"

#include <fmt/format.h>

#include <regex>
#include <vector>

namespace kiln::server {
namespace {

constexpr std::string_view kRunPrefix = "/v1/runs/";

// clang-format off
constexpr RouteRule kRouteRules[] = {
    {"GET",    "/v1/health",                                    Need::kPublic},
    // Kiln Studio's page and assets; every read it makes goes to /v1 with a token.
    {"GET",    "/",                                             Need::kPublic},
    {"GET",    kUiPagePattern,                                  Need::kPublic},
    {"GET",    R"(/assets/([^/]+))",                            Need::kPublic},
    // The caller's own token (a UI's login); the server's tokens.
    {"GET",    "/v1/token",                                     Need::kViewer},
    {"GET",    "/v1/tokens",                                    Need::kAdmin},
    {"POST",   "/v1/tokens",                                    Need::kAdmin},
    {"DELETE", R"(/v1/tokens/([^/]+))",                         Need::kAdmin},
    // Runs.
    {"POST",   "/v1/runs",                                      Need::kMember},
    {"GET",    "/v1/runs",                                      Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+))",                           Need::kViewer},
    {"PATCH",  R"(/v1/runs/([^/]+))",                           Need::kMember},
    {"DELETE", R"(/v1/runs/([^/]+))",                           Need::kMember},
    {"POST",   "/v1/gc",                                        Need::kAdmin},
    {"GET",    R"(/v1/runs/([^/]+)/history)",                   Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/trials)",                    Need::kViewer},
    {"POST",   R"(/v1/runs/([^/]+)/resume)",                    Need::kMember},
    {"POST",   "/v1/sweeps",                                    Need::kMember},
    {"POST",   R"(/v1/runs/([^/]+)/transitions)",               Need::kMember},
    {"POST",   R"(/v1/runs/([^/]+)/metrics)",                   Need::kRunToken},
    {"GET",    R"(/v1/runs/([^/]+)/spool-offsets/(\d+))",       Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/metrics)",                   Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/metrics/(.+))",              Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/logs/(\d+|environment))",    Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/logs)",                      Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/artifacts)",                 Need::kViewer},
    {"GET",    R"(/v1/runs/([^/]+)/artifacts/(.+))",            Need::kViewer},
    // The model registry.
    {"GET",    "/v1/models",                                    Need::kViewer},
    {"POST",   "/v1/models",                                    Need::kMember},
    {"GET",    R"(/v1/models/([^/]+)/versions)",                Need::kViewer},
    {"GET",    R"(/v1/models/([^/]+)/versions/([^/]+))",        Need::kViewer},
    {"DELETE", R"(/v1/models/([^/]+)/versions/([^/]+))",        Need::kMember},
    {"GET",    R"(/v1/models/([^/]+)/versions/([^/]+)/file)",   Need::kViewer},
    {"POST",   R"(/v1/models/([^/]+)/versions/([^/]+)/deployment)", Need::kMember},
    {"DELETE", R"(/v1/models/([^/]+)/versions/([^/]+)/deployment)", Need::kMember},
    // Catalogs.
    {"GET",    "/v1/experiments",                               Need::kViewer},
    {"GET",    "/v1/compute-targets",                           Need::kViewer},
    {"POST",   "/v1/compute-targets",                           Need::kAdmin},
    {"GET",    R"(/v1/compute-targets/([^/]+))",                Need::kViewer},
    {"DELETE", R"(/v1/compute-targets/([^/]+))",                Need::kAdmin},
    {"GET",    "/v1/datastores",                                Need::kViewer},
    {"POST",   "/v1/datastores",                                Need::kAdmin},
    {"GET",    R"(/v1/datastores/([^/]+))",                     Need::kViewer},
    {"DELETE", R"(/v1/datastores/([^/]+))",                     Need::kAdmin},
    // Snapshots, sent before a submit.
    {"POST",   "/v1/snapshots",                                 Need::kMember},
    {"PUT",    R"(/v1/snapshots/objects/([0-9a-f]{64}))",       Need::kMember},
    {"GET",    R"(/v1/snapshots/([0-9a-f]{64}))",               Need::kViewer},
    {"GET",    R"(/v1/snapshots/objects/([0-9a-f]{64}))",       Need::kViewer},
    // Registered job environments, with versions.
    {"GET",    "/v1/environments",                              Need::kViewer},
    {"POST",   "/v1/environments",                              Need::kMember},
    {"GET",    R"(/v1/environments/([^/]+)/versions)",          Need::kViewer},
    {"GET",    R"(/v1/environments/([^/]+)/versions/([^/]+))",  Need::kViewer},
    // Several metric series in one read (the UI's charts).
    {"GET",    "/v1/metric-series",                             Need::kViewer},
};
// clang-format on

// The table's patterns, compiled once, in the table's order.
const std::vector<std::regex>& CompiledPatterns() {
  static const std::vector<std::regex> compiled = [] {
    std::vector<std::regex> out;
    for (const RouteRule& rule : kRouteRules) out.emplace_back(std::string(rule.pattern));
    return out;
  }();
  return compiled;
}

std::string_view RoleArticle(store::TokenRole role) {
  return role == store::TokenRole::kAdmin ? "an" : "a";
}

}  // namespace

std::span<const RouteRule> RouteRules() { return kRouteRules; }

const RouteRule* FindRouteRule(std::string_view method, const std::string& path) {
  const std::string_view looked_up = method == "HEAD" ? "GET" : method;
  const std::vector<std::regex>& patterns = CompiledPatterns();
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (kRouteRules[i].method == looked_up && std::regex_match(path, patterns[i])) {
      return &kRouteRules[i];
    }
  }
  return nullptr;
}

std::string_view NeedName(Need need) {
  switch (need) {
    case Need::kPublic:
      return "no token";
    case Need::kViewer:
      return "the viewer role";
    case Need::kMember:
      return "the member role";
    case Need::kAdmin:
      return "the admin role";
    case Need::kRunToken:
      return "the run's own token (its launcher's)";
  }
  return "an unknown need";
}

Status CheckAccess(const RouteRule& rule, const Caller& caller, std::string_view method,
                   const std::string& path) {
  if (rule.need == Need::kPublic) return Status::Ok();
  if (caller.run_id) {
    const std::string own = std::string(kRunPrefix) + *caller.run_id;
    if (path == own || path.starts_with(own + "/")) return Status::Ok();
    return PermissionDeniedError(
        fmt::format("token {} belongs to run {} and is valid for that run's endpoints only",
                    caller.token_id, *caller.run_id));
  }
  store::TokenRole needed = store::TokenRole::kViewer;
  switch (rule.need) {
    case Need::kPublic:
    case Need::kViewer:
      needed = store::TokenRole::kViewer;
      break;
    case Need::kMember:
      needed = store::TokenRole::kMember;
      break;
    case Need::kAdmin:
      needed = store::TokenRole::kAdmin;
      break;
    case Need::kRunToken:
      return PermissionDeniedError(fmt::format("{} {} needs {}; user tokens cannot call it", method,
                                               path, NeedName(rule.need)));
  }
  if (store::RoleCovers(caller.role, needed)) return Status::Ok();
  return PermissionDeniedError(fmt::format(
      "{} {} needs {}; token '{}' is {} {} (an admin can make a token with the role: kiln "
      "server token create --role {})",
      method, path, NeedName(rule.need), caller.token_name, RoleArticle(caller.role),
      store::TokenRoleName(caller.role), store::TokenRoleName(needed)));
}

std::string SamplePath(const RouteRule& rule, std::string_view run_id) {
  // Each group the table uses, with a value it matches.
  const std::pair<std::string_view, std::string> kGroups[] = {
      {R"((\d+|environment))", "0"},
      {R"((\d+))", "0"},
      {"([0-9a-f]{64})", std::string(64, 'a')},
      {"([^/]+)", std::string(run_id)},
      {"(.+)", "a"},
      {"(runs|sweeps|compare|models|compute|login)", "runs"},
      {"(/[^?#]*)?", "/" + std::string(run_id)},
  };
  std::string path(rule.pattern);
  for (const auto& [group, value] : kGroups) {
    for (std::size_t at = path.find(group); at != std::string::npos; at = path.find(group, at)) {
      path.replace(at, group.size(), value);
      at += value.size();
    }
  }
  return path;
}

}  // namespace kiln::server
