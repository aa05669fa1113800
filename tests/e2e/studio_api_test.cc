// What Kiln Studio needs of the server, through a real server: its page and assets with
// their security headers, several metric series in one read and a zoomed range at full
// detail, keyset paging of runs, snapshots' files, the local target's slots, a log
// stream taken up again from its cursor; and `kiln ui`.

#include <fmt/format.h>
#include <signal.h>

#include <regex>
#include <set>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/server_fixture.h"
#include "launch/slot_queue.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Logs `points` points of "signal" (1.0, but 100 at step `spike`) and 10 of "accuracy".
std::string SignalScript(int points, int spike) {
  return fmt::format(R"(import kiln
run = kiln.Run.get_context()
for i in range({0}):
    run.log("signal", 100.0 if i == {1} else 1.0, step=i)
for i in range(10):
    run.log("accuracy", i / 10, step=i)
print("one")
print("two")
print("three")
)",
                     points, spike);
}

class StudioApiTest : public ServerTest {
 protected:
  std::string SubmitAndWait(const fs::path& project) {
    const CapturedRun run = Client(
        {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
    EXPECT_EQ(run.exit.code, 0) << run.out << run.err << ServerLog();
    return FirstLine(run.out);
  }

  json Get(const std::string& path) {
    const auto reply = Http().Get(path);
    EXPECT_TRUE(reply) << path;
    if (!reply) return nullptr;
    EXPECT_EQ(reply->status, 200) << path << ": " << reply->body;
    return BodyOf(reply);
  }
};

TEST_F(StudioApiTest, ThePageAndItsAssetsAreServedWithStrictHeaders) {
  StartServer();
  httplib::Client anyone = Http("");
  const auto page = anyone.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const std::string policy = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(policy.find("script-src 'self'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos) << policy;
  EXPECT_EQ(policy.find("unsafe"), std::string::npos) << policy;
  EXPECT_EQ(page->get_header_value_count("Content-Security-Policy"), 1u);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->body.find("<script>"), std::string::npos) << "no inline script";

  // Its script, under a name that holds its hash, cached for good.
  std::smatch script;
  ASSERT_TRUE(
      std::regex_search(page->body, script, std::regex(R"re(src="(/assets/app-[^"]+\.js)")re")))
      << page->body;
  const auto asset = anyone.Get(script[1].str());
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset->status, 200);
  EXPECT_EQ(asset->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(asset->get_header_value("Cache-Control").find("immutable"), std::string::npos);
  EXPECT_GT(asset->body.size(), 10'000u);

  // Every page path is the same page; the UI routes it itself.
  for (const std::string path : {"/runs", "/runs/exp_1_abc?tab=logs", "/sweeps/s", "/compute"}) {
    const auto routed = anyone.Get(path);
    ASSERT_TRUE(routed) << path;
    EXPECT_EQ(routed->status, 200) << path;
    EXPECT_EQ(routed->body, page->body) << path;
  }
  const auto missing = anyone.Get("/assets/app-00000000.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("reload it"), std::string::npos) << missing->body;

  // The API's replies can never run as a page, and still need a token.
  const auto api = anyone.Get("/v1/runs");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 401);
  EXPECT_EQ(api->get_header_value("Content-Security-Policy"),
            "default-src 'none'; frame-ancestors 'none'; sandbox");
  EXPECT_EQ(api->get_header_value("X-Frame-Options"), "DENY");
}

TEST_F(StudioApiTest, SeveralSeriesInOneReadAndAZoomedRangeAtFullDetail) {
  StartServer();
  const std::string run =
      SubmitAndWait(Project("signal", {{"train.py", SignalScript(20'000, 12'345)}}));

  const json all = Get(fmt::format(
      "/v1/metric-series?run={}&name=signal&name=accuracy&name=absent&max_points=200", run));
  ASSERT_EQ(all["series"].size(), 3u) << all.dump();
  const json& signal = all["series"][0];
  EXPECT_EQ(signal["run_id"], run);
  EXPECT_EQ(signal["total_count"], 20'000);
  EXPECT_LE(signal["values"].size(), 200u);
  // The one spike survives downsampling 100 to 1.
  double highest = 0;
  for (const json& value : signal["values"]) highest = std::max(highest, value.get<double>());
  EXPECT_EQ(highest, 100.0);
  EXPECT_EQ(all["series"][1]["name"], "accuracy");
  EXPECT_EQ(all["series"][1]["values"].size(), 10u);
  EXPECT_EQ(all["series"][2]["error"]["code"], "NOT_FOUND") << all.dump();

  // Zoomed to steps 12,340..12,350: every point there, and one on each side.
  const json zoomed =
      Get(fmt::format("/v1/runs/{}/metrics/signal?x_min=12340&x_max=12350&max_points=2000", run));
  EXPECT_EQ(zoomed["range_count"], 13);
  EXPECT_EQ(zoomed["steps"].front(), 12'339);
  EXPECT_EQ(zoomed["steps"].back(), 12'351);
  EXPECT_EQ(zoomed["values"][6], 100.0);

  // The time axis: the whole run's span keeps every point.
  const json times = Get(fmt::format("/v1/runs/{}/metrics/accuracy", run))["times"];
  const json by_time =
      Get(fmt::format("/v1/runs/{}/metrics/accuracy?x=time&x_min={}&x_max={}", run,
                      times.front().get<std::int64_t>(), times.back().get<std::int64_t>()));
  EXPECT_EQ(by_time["range_count"], 10);

  for (const auto& [query, message] : std::vector<std::pair<std::string, std::string>>{
           {"x=epoch", "query parameter x: expected step or time, got 'epoch'"},
           {"x_min=5&x_max=1", "x_min (5) > x_max (1)"},
           {"x_min=abc", "query parameter x_min: expected a number, got 'abc'"},
       }) {
    const auto bad = Http().Get(fmt::format("/v1/runs/{}/metrics/signal?{}", run, query));
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << query;
    EXPECT_NE(bad->body.find(message), std::string::npos) << bad->body;
  }
  std::string many = "/v1/metric-series?name=a";
  for (int i = 0; i < 257; ++i) many += fmt::format("&run=r{}", i);
  const auto too_many = Http().Get(many);
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 400);
  EXPECT_NE(too_many->body.find("257 series; at most 256"), std::string::npos) << too_many->body;
}

TEST_F(StudioApiTest, RunsComeInKeysetPagesWithTheirLatestMetrics) {
  StartServer();
  const fs::path project = Project("tiny", {{"train.py", SignalScript(3, 1)}});
  std::set<std::string> submitted;
  for (int i = 0; i < 5; ++i) submitted.insert(SubmitAndWait(project));

  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    const json body =
        Get("/v1/runs?limit=2&metrics=true" + (after.empty() ? "" : "&after=" + after));
    for (const json& run : body["runs"]) {
      seen.push_back(run["id"]);
      EXPECT_EQ(run["metrics"]["accuracy"], 0.9) << run.dump();
    }
    if (!body.contains("next_cursor")) break;
    after = body["next_cursor"].get<std::string>();
    // A run submitted between pages comes first in a new listing, never inside this one.
    if (page == 0) submitted.insert(SubmitAndWait(project));
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 5u) << "no run twice";
  const auto bad = Http().Get("/v1/runs?after=yesterday");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("pass a page's next_cursor as it came"), std::string::npos);
}

TEST_F(StudioApiTest, ASnapshotsFilesAreReadByHashAndTheLocalTargetShowsItsSlots) {
  StartServer();
  const std::string run = SubmitAndWait(Project("code", {{"train.py", SignalScript(3, 1)}}));
  const std::string viewer = CreateToken("viewer", "viewer");
  const json shown = Get("/v1/runs/" + run);
  const auto manifest =
      Http(viewer).Get("/v1/snapshots/" + shown["snapshot_id"].get<std::string>());
  ASSERT_TRUE(manifest);
  ASSERT_EQ(manifest->status, 200) << manifest->body;
  const json entries = BodyOf(manifest)["entries"];
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["path"], "train.py");
  const auto file =
      Http(viewer).Get("/v1/snapshots/objects/" + entries[0]["sha256"].get<std::string>());
  ASSERT_TRUE(file);
  EXPECT_EQ(file->status, 200);
  EXPECT_EQ(file->body, SignalScript(3, 1));
  const auto unknown = Http(viewer).Get("/v1/snapshots/objects/" + std::string(64, 'e'));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  const json local = Get("/v1/compute-targets/local");
  EXPECT_EQ(local["type"], "local");
  EXPECT_GE(local["cores"]["capacity"].get<int>(), 1);
  EXPECT_EQ(local["cores"]["used"], 0);
  EXPECT_TRUE(local["cores"]["waiting"].empty());
}

// A run waiting for the local target's slots says so in the list of runs too (the Compute
// page reads it there).
TEST_F(StudioApiTest, AListingOfRunsSaysWhyARunWaits) {
  ASSERT_TRUE(launch::SlotQueue(server_home() / "local-queue").WriteSettings({1, {}}).ok());
  StartServer();
  const fs::path project =
      Project("sleeper", {{"train.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n"}});
  const std::string first =
      ClientSubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForServerStatus(first, "Running"));
  const std::string second =
      ClientSubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  const json active = Get("/v1/runs?active=true");
  std::string detail;
  for (const json& run : active["runs"]) {
    if (run["id"] == second) detail = run["target_detail"].is_string() ? run["target_detail"] : "";
  }
  EXPECT_NE(detail.find("waiting for 1 core; 0 of 1 free; 1st in line"), std::string::npos)
      << active.dump(2);
  for (const std::string& run : {second, first}) {
    EXPECT_EQ(Client({"cancel", run}).exit.code, 0);
  }
}

// A follower that lost its stream takes it up again from the last event's id.
TEST_F(StudioApiTest, AFollowedLogGoesOnFromItsLastEventsId) {
  StartServer();
  const std::string run = SubmitAndWait(Project("lines", {{"train.py", SignalScript(3, 1)}}));
  const auto follow = [&](const std::string& query) {
    std::string stream;
    const auto reply = Http().Get(fmt::format("/v1/runs/{}/logs?follow=true{}", run, query),
                                  [&](const char* data, std::size_t n) {
                                    stream.append(data, n);
                                    return true;
                                  });
    EXPECT_TRUE(reply && reply->status == 200) << stream;
    return stream;
  };
  const std::string first = follow("");
  std::smatch id;
  ASSERT_TRUE(std::regex_search(first, id, std::regex("\nid: ([0-9-]+)\n"))) << first;
  EXPECT_NE(first.find("\"text\":\"three\""), std::string::npos) << first;
  const std::string again = follow("&cursor=" + id[1].str());
  EXPECT_EQ(again.find("event: line"), std::string::npos) << again;
  EXPECT_NE(again.find("event: end\ndata: {\"status\":\"Completed\"}"), std::string::npos) << again;
}

class UiCommandTest : public KilnTest {
 protected:
  struct Session {
    std::optional<Subprocess> process;
    std::string url;
    std::string secret;
  };

  // Starts `kiln ui ARGS` with `env` added (and no other KILN_ variable); reads what it
  // printed: "Kiln Studio: URL/", a line, the token.
  Session StartUi(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    Session session;
    auto pipe = MakePipe();
    EXPECT_TRUE(pipe.ok());
    if (!pipe.ok()) return session;
    SpawnOptions options;
    options.argv = {KILN_BINARY, "ui", "--listen", "127.0.0.1:0"};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    std::vector<std::string> environment;
    for (const std::string& entry : CurrentEnvironment()) {
      if (!entry.starts_with("KILN_")) environment.push_back(entry);
    }
    environment.insert(environment.end(), env.begin(), env.end());
    options.env = environment;
    options.stdout_fd = pipe->second.get();
    options.kill_with_parent = true;
    Result<Subprocess> ui = RealSpawner().Spawn(options);
    EXPECT_TRUE(ui.ok()) << ui.status().ToString();
    if (!ui.ok()) return session;
    pipe->second.reset();
    session.process.emplace(std::move(ui).value());
    std::string out;
    char buffer[512];
    while (std::count(out.begin(), out.end(), '\n') < 3) {
      const ssize_t n = ::read(pipe->first.get(), buffer, sizeof(buffer));
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    const std::vector<std::string> lines = SplitString(TrimWhitespace(out), '\n');
    std::smatch url;
    EXPECT_EQ(lines.size(), 3u) << out;
    if (lines.size() != 3 ||
        !std::regex_match(lines[0], url,
                          std::regex(R"(Kiln Studio: (http://127\.0\.0\.1:\d+)/)"))) {
      ADD_FAILURE() << out;
      return session;
    }
    session.url = url[1].str();
    session.secret = lines[2];
    return session;
  }

  int Status(const Session& session, const std::string& path) {
    httplib::Client client(session.url);
    client.set_bearer_token_auth(session.secret);
    const auto reply = client.Get(path);
    return reply ? reply->status : -1;
  }

  nlohmann::json Tokens(const fs::path& db) {
    return KilnJson(
        {"server", "token", "list", "--store", "sqlite://" + db.string(), "--all", "--json"});
  }
};

TEST_F(UiCommandTest, PrintsWhereToGoAndRevokesItsTokenWhenItStops) {
  Session ui = StartUi({}, {"KILN_HOME=" + home().string()});
  ASSERT_TRUE(ui.process.has_value() && !ui.url.empty());
  httplib::Client client(ui.url);
  client.set_bearer_token_auth(ui.secret);
  const auto me = client.Get("/v1/token");
  ASSERT_TRUE(me);
  ASSERT_EQ(me->status, 200) << me->body;
  EXPECT_EQ(BodyOf(me)["role"], "member");
  EXPECT_EQ(client.Get("/")->status, 200);

  ::kill(ui.process->pid(), SIGINT);
  const Result<ExitStatus> exit = ui.process->WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->code, 0) << exit->Describe();
  const json tokens = Tokens(home() / "kiln.db");
  ASSERT_EQ(tokens.size(), 1u) << tokens.dump();
  EXPECT_FALSE(tokens[0]["revoked_at"].is_null()) << "the session's token dies with it";
}

// --home is the store the token is made in, as it is the server's.
TEST_F(UiCommandTest, ServesTheHomeItIsGivenWithATokenItKnows) {
  const fs::path elsewhere = root() / "elsewhere";
  Session ui = StartUi({"--home", elsewhere.string()}, {});
  ASSERT_TRUE(ui.process.has_value() && !ui.url.empty());
  EXPECT_EQ(Status(ui, "/v1/runs"), 200);
  EXPECT_TRUE(fs::exists(elsewhere / "kiln.db"));
  ::kill(ui.process->pid(), SIGTERM);
  EXPECT_TRUE(ui.process->WaitFor(std::chrono::seconds(30)).ok());
}

// A session that was killed could not revoke its token: the next one on the machine does.
TEST_F(UiCommandTest, TheTokenOfAKilledSessionIsRevokedByTheNext) {
  Session killed = StartUi({}, {"KILN_HOME=" + home().string()});
  ASSERT_TRUE(killed.process.has_value() && !killed.url.empty());
  ::kill(killed.process->pid(), SIGKILL);
  ASSERT_TRUE(killed.process->WaitFor(std::chrono::seconds(30)).ok());
  EXPECT_TRUE(Tokens(home() / "kiln.db")[0]["revoked_at"].is_null());
  Session next = StartUi({}, {"KILN_HOME=" + home().string()});
  ASSERT_TRUE(next.process.has_value() && !next.url.empty());
  EXPECT_EQ(Status(next, "/v1/token"), 200);
  const json tokens = Tokens(home() / "kiln.db");
  ASSERT_EQ(tokens.size(), 2u) << tokens.dump();
  int live = 0;
  for (const json& token : tokens) live += token["revoked_at"].is_null() ? 1 : 0;
  EXPECT_EQ(live, 1) << tokens.dump();
  ::kill(next.process->pid(), SIGTERM);
  EXPECT_TRUE(next.process->WaitFor(std::chrono::seconds(30)).ok());
}

TEST_F(UiCommandTest, RefusesToListenBeyondThisMachineAndPointsAtAServer) {
  const CapturedRun open = Kiln({"ui", "--listen", "0.0.0.0:0"});
  EXPECT_EQ(open.exit.code, 2) << open.err;
  EXPECT_NE(open.err.find("kiln ui listens on this machine only"), std::string::npos) << open.err;
  EXPECT_FALSE(fs::exists(home() / "kiln.db")) << "nothing made";
  const CapturedRun remote = Kiln({"ui"}, {{"KILN_SERVER", "http://10.0.0.9:8470"}});
  EXPECT_EQ(remote.exit.code, 0) << remote.err;
  EXPECT_NE(remote.out.find("Kiln Studio is at http://10.0.0.9:8470/"), std::string::npos)
      << remote.out;
}

}  // namespace
}  // namespace kiln::e2e
