#include "server/route_access.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace kiln::server {
namespace {

Caller UserToken(store::TokenRole role) {
  return Caller{"tok_000000000001", std::string(store::TokenRoleName(role)), role, std::nullopt};
}

Caller RunToken(const std::string& run_id) {
  return Caller{"tok_000000000002", "run:" + run_id, store::kDefaultTokenRole, run_id};
}

TEST(RouteAccessTest, EveryRowIsFoundByItsOwnSamplePathAndIsUnique) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const RouteRule& rule : RouteRules()) {
    SCOPED_TRACE(fmt::format("{} {}", rule.method, rule.pattern));
    EXPECT_TRUE(seen.insert({rule.method, rule.pattern}).second) << "listed twice";
    const std::string path = SamplePath(rule, "exp_1_abc");
    const RouteRule* found = FindRouteRule(rule.method, path);
    ASSERT_NE(found, nullptr) << path;
    // Overlapping patterns (a run and its sub-resources) may share a row only when they
    // need the same.
    EXPECT_EQ(found->need, rule.need) << path;
  }
}

TEST(RouteAccessTest, UnknownEndpointsHaveNoRow) {
  EXPECT_EQ(FindRouteRule("GET", "/v1/nothing"), nullptr);
  EXPECT_EQ(FindRouteRule("PATCH", "/v1/runs"), nullptr);
  EXPECT_EQ(FindRouteRule("GET", "/v1/runs/a/b/c/d"), nullptr);
  EXPECT_EQ(FindRouteRule("POST", "/v1/health"), nullptr);
  // Patterns match whole paths only.
  EXPECT_EQ(FindRouteRule("GET", "/v1/runsx"), nullptr);
}

TEST(RouteAccessTest, HeadIsLookedUpAsGet) {
  const RouteRule* rule = FindRouteRule("HEAD", "/v1/runs/r1/artifacts/model.onnx");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->need, Need::kViewer);
}

// Public: the health check and the UI's page and files, which hold no data; no other
// path under /v1.
TEST(RouteAccessTest, OnlyTheHealthCheckAndTheUisFilesArePublic) {
  std::vector<std::string_view> public_rows;
  for (const RouteRule& rule : RouteRules()) {
    if (rule.need != Need::kPublic) continue;
    public_rows.push_back(rule.pattern);
    if (rule.pattern.starts_with("/v1/")) EXPECT_EQ(rule.pattern, "/v1/health");
  }
  EXPECT_EQ(public_rows, (std::vector<std::string_view>{"/v1/health", "/", kUiPagePattern,
                                                        R"(/assets/([^/]+))"}));
  for (const std::string path : {"/runs", "/runs/exp_1_abc", "/sweeps/s1", "/login"}) {
    const RouteRule* rule = FindRouteRule("GET", path);
    ASSERT_NE(rule, nullptr) << path;
    EXPECT_EQ(rule->need, Need::kPublic) << path;
  }
  EXPECT_EQ(FindRouteRule("GET", "/runsx"), nullptr);
  EXPECT_EQ(FindRouteRule("GET", "/assets/a/b.js"), nullptr);
}

// The walk the issue asks for: a viewer reaches every read and nothing else, and each
// refusal names what the endpoint needs.
TEST(RouteAccessTest, ViewerIsRefusedEverythingAboveReadsWithTheRoleNeeded) {
  const Caller viewer = UserToken(store::TokenRole::kViewer);
  int refused = 0;
  for (const RouteRule& rule : RouteRules()) {
    const std::string path = SamplePath(rule, "r1");
    SCOPED_TRACE(fmt::format("{} {}", rule.method, path));
    const Status status = CheckAccess(rule, viewer, rule.method, path);
    if (rule.need == Need::kPublic || rule.need == Need::kViewer) {
      EXPECT_TRUE(status.ok()) << status.ToString();
      continue;
    }
    ++refused;
    EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
    EXPECT_NE(status.message().find(std::string(NeedName(rule.need))), std::string::npos)
        << status.message();
    EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
  }
  EXPECT_GE(refused, 12);
}

TEST(RouteAccessTest, MemberSubmitsAndCancelsButManagesNothing) {
  const Caller member = UserToken(store::TokenRole::kMember);
  const auto check = [&](std::string_view method, const std::string& path) {
    const RouteRule* rule = FindRouteRule(method, path);
    EXPECT_NE(rule, nullptr) << method << " " << path;
    return rule == nullptr ? InternalError("no row") : CheckAccess(*rule, member, method, path);
  };
  EXPECT_TRUE(check("POST", "/v1/runs").ok());
  EXPECT_TRUE(check("POST", "/v1/runs/r1/transitions").ok());
  EXPECT_TRUE(check("POST", "/v1/snapshots").ok());
  EXPECT_TRUE(check("POST", "/v1/models").ok());
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/v1/tokens"},
                                                        {"GET", "/v1/tokens"},
                                                        {"DELETE", "/v1/tokens/tok_000000000001"},
                                                        {"POST", "/v1/compute-targets"},
                                                        {"DELETE", "/v1/compute-targets/gpu"},
                                                        {"POST", "/v1/datastores"},
                                                        {"DELETE", "/v1/datastores/fm"}}) {
    const Status status = check(method, path);
    EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << method << " " << path;
    EXPECT_NE(status.message().find("needs the admin role; token 'member' is a member"),
              std::string::npos)
        << status.message();
  }
}

TEST(RouteAccessTest, AdminPassesEverythingButALaunchersIngest) {
  const Caller admin = UserToken(store::TokenRole::kAdmin);
  for (const RouteRule& rule : RouteRules()) {
    const std::string path = SamplePath(rule, "r1");
    const Status status = CheckAccess(rule, admin, rule.method, path);
    if (rule.need == Need::kRunToken) {
      EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << path;
      EXPECT_NE(status.message().find("the run's own token"), std::string::npos);
    } else {
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
  }
}

TEST(RouteAccessTest, RunTokenReachesItsOwnRunOnly) {
  const Caller run = RunToken("r1");
  for (const RouteRule& rule : RouteRules()) {
    const std::string own = SamplePath(rule, "r1");
    const Status status = CheckAccess(rule, run, rule.method, own);
    if (rule.pattern.starts_with("/v1/runs/") || rule.need == Need::kPublic) {
      EXPECT_TRUE(status.ok()) << own << ": " << status.ToString();
    } else {
      EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << own;
    }
  }
  const RouteRule* ingest = FindRouteRule("POST", "/v1/runs/r2/metrics");
  ASSERT_NE(ingest, nullptr);
  const Status other = CheckAccess(*ingest, run, "POST", "/v1/runs/r2/metrics");
  EXPECT_EQ(other.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other.message().find("belongs to run r1"), std::string::npos);
  // A run whose id starts with another's is not inside it.
  const RouteRule* show = FindRouteRule("GET", "/v1/runs/r10");
  ASSERT_NE(show, nullptr);
  EXPECT_EQ(CheckAccess(*show, run, "GET", "/v1/runs/r10").code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace kiln::server
