// Token roles end to end: a real server, real HTTP requests with viewer, member and admin
// tokens, run tokens of real launchers, and the server's access log.

#include <fmt/format.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/server_fixture.h"
#include "launch/slot_queue.h"
#include "server/route_access.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ServerRolesTest : public ServerTest {
 protected:
  // Submits `script` as train.py with `token`; returns the run id.
  std::string Submit(const std::string& script, const std::string& token) {
    const fs::path project = Project("job" + std::to_string(++projects_), {{"train.py", script}});
    const CapturedRun run = Client(
        {"submit", "--source-directory", project.string(), "--entry-script", "train.py"}, token);
    EXPECT_EQ(run.exit.code, 0) << run.out << run.err << ServerLog();
    return FirstLine(run.out);
  }

  static std::string Batch(int rank) {
    return json{{"rank", rank},
                {"offset_before", 0},
                {"offset_after", 10},
                {"series", json::array({{{"name", "probe"},
                                         {"rank", rank},
                                         {"kind", "scalar"},
                                         {"description", ""},
                                         {"steps", {1}},
                                         {"values", {1.0}},
                                         {"times", {1}}}})}}
        .dump();
  }

  int projects_ = 0;
};

constexpr std::string_view kSleeper = "import time\nprint('up', flush=True)\ntime.sleep(600)\n";

// Walks route_access.h's table with a viewer token: every endpoint above a read answers 403
// naming the role it needs; every read is served (none falls through to "no endpoint").
TEST_F(ServerRolesTest, ViewerIsRefusedEveryEndpointAboveItsRole) {
  StartServer();
  const std::string viewer = CreateToken("vic", "viewer");
  int refused = 0;
  for (const server::RouteRule& rule : server::RouteRules()) {
    const std::string path = server::SamplePath(rule, "exp_0_none");
    SCOPED_TRACE(fmt::format("{} {}", rule.method, path));
    httplib::Client client = Http(viewer);
    const httplib::Result result =
        rule.method == "GET"     ? client.Get(path)
        : rule.method == "POST"  ? client.Post(path, "{}", "application/json")
        : rule.method == "PUT"   ? client.Put(path, "x", "application/octet-stream")
        : rule.method == "PATCH" ? client.Patch(path, "{}", "application/json")
                                 : client.Delete(path);
    ASSERT_TRUE(result);
    if (rule.need == server::Need::kPublic || rule.need == server::Need::kViewer) {
      EXPECT_NE(result->status, 403) << result->body;
      EXPECT_LT(result->status, 500) << result->body;
      EXPECT_EQ(result->body.find("no endpoint"), std::string::npos) << result->body;
      continue;
    }
    ++refused;
    EXPECT_EQ(result->status, 403) << result->body;
    EXPECT_EQ(BodyOf(result)["error"]["code"], "PERMISSION_DENIED");
    const std::string message = BodyOf(result)["error"]["message"];
    EXPECT_NE(message.find(fmt::format("needs {}", server::NeedName(rule.need))), std::string::npos)
        << message;
  }
  EXPECT_GE(refused, 12);
  // Nothing was made on the way.
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs"))["runs"].size(), 0u);
  EXPECT_EQ(BodyOf(Http().Get("/v1/tokens"))["tokens"].size(), 2u);
}

TEST_F(ServerRolesTest, MembersSubmitAndCancelViewersReadAdminsManage) {
  StartServer();
  EXPECT_EQ(Http("").Get("/v1/health")->status, 200);
  const std::string admin = token();
  const std::string member = CreateToken("mia", "member");
  const std::string viewer = CreateToken("vic", "viewer");

  // A viewer cannot submit, through the CLI or the API.
  const fs::path project = Project("refused", {{"train.py", "print(1)\n"}});
  const CapturedRun denied = Client(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py"}, viewer);
  EXPECT_NE(denied.exit.code, 0);
  EXPECT_NE(denied.err.find("needs the member role"), std::string::npos) << denied.err;
  EXPECT_EQ(Http(viewer).Post("/v1/runs", "{}", "application/json")->status, 403);

  // A member submits; the run records the token's name.
  const std::string run = Submit(std::string(kSleeper), member);
  ASSERT_TRUE(WaitForServerStatus(run, "Running")) << ServerLog();
  EXPECT_EQ(BodyOf(Http(viewer).Get("/v1/runs/" + run))["submitted_by"], "mia");
  const CapturedRun shown = Client({"show", run}, viewer);
  EXPECT_NE(shown.out.find("Submitter  mia"), std::string::npos) << shown.out;

  // Lifecycle moves belong to the run's own token.
  const std::string path = "/v1/runs/" + run + "/transitions";
  for (const std::string to : {"Running", "Completed", "Failed", "Finalizing"}) {
    const auto moved = Http(member).Post(path, json{{"to", to}}.dump(), "application/json");
    EXPECT_EQ(moved->status, 403) << to;
    EXPECT_NE(moved->body.find("may only request CancelRequested"), std::string::npos)
        << moved->body;
  }
  // A rank outside the run's world of 1 is refused; nothing is stored.
  const std::string run_token = RunToken(run);
  const auto outside =
      Http(run_token).Post("/v1/runs/" + run + "/metrics", Batch(1), "application/json");
  EXPECT_EQ(outside->status, 400) << outside->body;
  EXPECT_NE(outside->body.find("rank 1 is outside run " + run + "'s world of 1 ranks"),
            std::string::npos)
      << outside->body;
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + run + "/metrics"))["metrics"].size(), 0u);
  // A user's token, even an admin's, does not ingest.
  EXPECT_EQ(Http(admin).Post("/v1/runs/" + run + "/metrics", Batch(0), "application/json")->status,
            403);

  // Members manage neither tokens nor compute targets nor datastores.
  for (const auto& [where, body] : std::vector<std::pair<std::string, json>>{
           {"/v1/tokens", {{"name", "sneaky"}, {"role", "admin"}}},
           {"/v1/compute-targets",
            {{"name", "gpu"}, {"type", "slurm"}, {"config", json::object()}}},
           {"/v1/datastores", {{"name", "d"}, {"path", root().string()}}}}) {
    const auto refused = Http(member).Post(where, body.dump(), "application/json");
    EXPECT_EQ(refused->status, 403) << where;
    EXPECT_NE(refused->body.find("needs the admin role; token 'mia' is a member"),
              std::string::npos)
        << refused->body;
  }
  EXPECT_EQ(Http(member).Get("/v1/tokens")->status, 403);

  // An admin makes a token over the API; it logs in as what it is.
  const auto made =
      Http(admin).Post("/v1/tokens", R"({"name":"ui-viewer","role":"viewer"})", "application/json");
  ASSERT_EQ(made->status, 201) << made->body;
  const std::string secret = BodyOf(made)["secret"];
  const json me = BodyOf(Http(secret).Get("/v1/token"));
  EXPECT_EQ(me["name"], "ui-viewer");
  EXPECT_EQ(me["role"], "viewer");
  EXPECT_FALSE(me.contains("secret"));
  EXPECT_EQ(
      Http(admin).Post("/v1/tokens", R"({"name":"x","role":"owner"})", "application/json")->status,
      400);

  // A viewer cannot cancel; a member can. The run's token ends with the run.
  const std::string cancel = R"({"to":"CancelRequested"})";
  EXPECT_EQ(Http(viewer).Post(path, cancel, "application/json")->status, 403);
  const auto canceled = Http(member).Post(path, cancel, "application/json");
  EXPECT_EQ(canceled->status, 200) << canceled->body;
  ASSERT_TRUE(WaitForServerStatus(run, "Canceled")) << ServerLog();
  const auto late =
      Http(run_token).Post("/v1/runs/" + run + "/metrics", Batch(0), "application/json");
  EXPECT_EQ(late->status, 401);
  EXPECT_NE(late->body.find("revoked"), std::string::npos) << late->body;

  // One access line per request, with the token's name and never a secret.
  const std::string log = ServerLog();
  EXPECT_NE(log.find(R"(access token="mia" method=POST path="/v1/runs" status=201 duration_ms=)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(fmt::format(R"(access token="vic" method=POST path="/v1/runs/{}/transitions")"
                                 R"( status=403)",
                                 run)),
            std::string::npos);
  EXPECT_NE(log.find(R"(access token=- method=GET path="/v1/health")"), std::string::npos);
  for (const std::string& secret_of : {admin, member, viewer, run_token, secret}) {
    EXPECT_EQ(log.find(secret_of.substr(22)), std::string::npos) << "a secret was logged";
  }
}

// However a run ends, its launcher's token stops working: completed, failed, canceled (above)
// and a launcher that died, found on the next read.
TEST_F(ServerRolesTest, EveryEndOfARunRevokesItsToken) {
  // Three runs at once: the server's local target gets three cores, whatever the machine has.
  ASSERT_TRUE(launch::SlotQueue(server_home() / "local-queue").WriteSettings({3, {}}).ok());
  StartServer();
  // Runs that wait for a file, so their tokens can be read from their live launchers.
  const fs::path go = root() / "go";
  const auto waiting_then = [&](const std::string& end) {
    return fmt::format(
        "import os, time\nprint('up', flush=True)\n"
        "while not os.path.exists('{}'):\n    time.sleep(0.02)\n{}",
        go.string(), end);
  };
  const std::string completed = Submit(waiting_then("print('done')\n"), token());
  const std::string failed = Submit(waiting_then("raise SystemExit(3)\n"), token());
  const std::string died = Submit(std::string(kSleeper), token());
  std::map<std::string, std::string> tokens;
  for (const std::string& run : {completed, failed, died}) {
    ASSERT_TRUE(WaitForServerStatus(run, "Running")) << ServerLog();
    tokens[run] = RunToken(run);
    EXPECT_EQ(Http(tokens[run]).Get("/v1/runs/" + run)->status, 200);
  }
  ASSERT_TRUE(WriteFileAtomically(go, "").ok());
  ASSERT_TRUE(WaitForServerStatus(completed, "Completed")) << ServerLog();
  ASSERT_TRUE(WaitForServerStatus(failed, "Failed")) << ServerLog();

  const auto pid = ParseInt64(
      TrimWhitespace(*ReadFileToString(server_home() / "runs" / died / "launcher.lock")));
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(::kill(static_cast<pid_t>(*pid), SIGKILL), 0);
  ASSERT_TRUE(WaitForServerStatus(died, "Failed")) << ServerLog();

  for (const std::string& run : {completed, failed, died}) {
    const auto refused = Http(tokens[run]).Get("/v1/runs/" + run);
    EXPECT_EQ(refused->status, 401) << run;
    EXPECT_NE(refused->body.find("revoked"), std::string::npos) << refused->body;
  }
  const json all = BodyOf(Http().Get("/v1/tokens?all=true"))["tokens"];
  ASSERT_EQ(all.size(), 4u);
  for (const json& one : all) {
    EXPECT_EQ(one["revoked_at"].is_null(), one["run_id"].is_null()) << one.dump();
  }
}

// docs/openapi.yaml states each operation's role as x-kiln-role; it must be the table's.
TEST(ServerRolesDocTest, OpenapiStatesEveryOperationsRoleAsTheTableDoes) {
  std::ifstream spec(std::string(KILN_SOURCE_DIR) + "/docs/openapi.yaml");
  std::string line;
  std::string path;
  std::string method;
  int checked = 0;
  while (std::getline(spec, line)) {
    if (line.starts_with("  /v1/") && line.ends_with(":")) {
      path = line.substr(2, line.size() - 3);
      for (const auto& [from, to] :
           std::vector<std::pair<std::string, std::string>>{{"{id}", "r1"},
                                                            {"{name}", "n"},
                                                            {"{rank}", "0"},
                                                            {"{version}", "1"},
                                                            {"{path}", "outputs/a"},
                                                            {"{sha256}", std::string(64, 'c')}}) {
        if (const std::size_t at = path.find(from); at != std::string::npos) {
          path.replace(at, from.size(), to);
        }
      }
      continue;
    }
    for (const auto& [verb, upper] :
         std::vector<std::pair<std::string, std::string>>{{"get", "GET"},
                                                          {"post", "POST"},
                                                          {"put", "PUT"},
                                                          {"patch", "PATCH"},
                                                          {"delete", "DELETE"}}) {
      if (line == "    " + verb + ":") method = upper;
    }
    const std::string kRole = "      x-kiln-role: ";
    if (!line.starts_with(kRole) || method.empty()) continue;
    const server::RouteRule* rule = server::FindRouteRule(method, path);
    ASSERT_NE(rule, nullptr) << method << " " << path;
    const std::string documented = line.substr(kRole.size());
    const std::string_view need = server::NeedName(rule->need);
    EXPECT_TRUE(need == "the " + documented + " role" ||
                (documented == "run" && rule->need == server::Need::kRunToken))
        << method << " " << path << ": documented " << documented << ", table " << need;
    ++checked;
  }
  // + the health check and the UI's page, page paths and assets (docs/ui.md)
  EXPECT_EQ(checked + 4, static_cast<int>(server::RouteRules().size()));
}

// Without a server, a run records the OS user who submitted it.
TEST_F(ServerRolesTest, EmbeddedSubmitRecordsTheOsUser) {
  const fs::path project = Project("local", {{"train.py", "print(1)\n"}});
  const std::string run =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  const passwd* user = ::getpwuid(::geteuid());
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(KilnJson({"show", run, "--json"})["submitted_by"], user->pw_name);
  EXPECT_NE(Kiln({"show", run}).out.find(fmt::format("Submitter  {}\n", user->pw_name)),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::e2e
