// kiln server end to end: a real server process, the real CLI as its client, real
// launchers reporting to it over HTTP, and raw HTTP requests for the API contract.

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "common/files.h"
#include "common/ports.h"
#include "common/strings.h"
#include "e2e/server_fixture.h"
#include "store/postgres/test_server.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Logs `count` points of "loss" (and prints a line every 1,000) over about `seconds`.
std::string MetricsScript(int count, double seconds) {
  return fmt::format(R"(import time
import kiln
run = kiln.Run.get_context()
for i in range({0}):
    run.log("loss", 1.0 / (i + 1))
    if i % 1000 == 999:
        print("logged", i + 1, flush=True)
        time.sleep({1} / ({0} / 1000))
import os
os.makedirs("outputs/ckpt", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
open("outputs/ckpt/1.txt", "w").write("one")
)",
                     count, seconds);
}

class KilnServerTest : public ServerTest {
 protected:
  fs::path MetricsProject(int count = 3000, double seconds = 0.3) {
    return Project("job", {{"train.py", MetricsScript(count, seconds)}});
  }

  std::string SubmitAndWait(const fs::path& project) {
    const CapturedRun run = Client(
        {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
    EXPECT_EQ(run.exit.code, 0) << run.out << run.err << ServerLog();
    return FirstLine(run.out);
  }
};

TEST_F(KilnServerTest, HealthIsOpenAndEverythingElseNeedsAToken) {
  StartServer();
  EXPECT_EQ(Http("").Get("/v1/health")->status, 200);

  const auto none = Http("").Get("/v1/runs");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(BodyOf(none)["error"]["code"], "UNAUTHENTICATED");
  EXPECT_TRUE(none->has_header("WWW-Authenticate"));

  const std::string good = token();
  std::string wrong = good;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  for (const std::string& bad : {wrong, std::string("kiln_nonsense"), good.substr(0, 20)}) {
    const auto refused = Http(bad).Get("/v1/runs");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401) << bad;
    EXPECT_EQ(refused->body.find(good.substr(22)), std::string::npos) << "the secret leaked";
  }
  EXPECT_EQ(Http(good).Get("/v1/runs")->status, 200);

  // A missing or wrong token changes nothing.
  const auto register_attempt =
      Http(wrong).Post("/v1/datastores", R"({"name":"d","path":"/tmp"})", "application/json");
  EXPECT_EQ(register_attempt->status, 401);
  EXPECT_EQ(BodyOf(Http().Get("/v1/datastores"))["datastores"].size(), 0u);

  // The CLI says so with exit code 7.
  const CapturedRun cli = Client({"runs"}, wrong);
  EXPECT_EQ(cli.exit.code, 7) << cli.err;
  EXPECT_NE(cli.err.find("is wrong"), std::string::npos) << cli.err;

  // Revoked: refused at once.
  const std::string id = good.substr(5, 16);
  const CapturedRun revoked = Kiln({"server", "token", "revoke", id, "--store", store_url()});
  ASSERT_EQ(revoked.exit.code, 0) << revoked.err;
  const auto after = Http(good).Get("/v1/runs");
  EXPECT_EQ(after->status, 401);
  EXPECT_NE(after->body.find("revoked"), std::string::npos);

  const json listed = KilnJson({"server", "token", "list", "--json", "--store", store_url()});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], id);
  EXPECT_FALSE(listed[0]["revoked_at"].is_null());
  EXPECT_EQ(ServerLog().find(good.substr(22)), std::string::npos) << "the secret was logged";
}

TEST_F(KilnServerTest, TheCliWorksThroughTheServer) {
  StartServer();
  const std::string run = SubmitAndWait(MetricsProject());
  ASSERT_FALSE(run.empty());

  // The run, its launcher's reports and its files all live on the server's side.
  EXPECT_TRUE(fs::exists(server_home() / "runs" / run / "plan.json"));
  EXPECT_FALSE(fs::exists(home() / "runs" / run));
  const json plan = json::parse(*ReadFileToString(server_home() / "runs" / run / "plan.json"));
  EXPECT_EQ(plan["store"], url());
  struct stat info {};
  ASSERT_EQ(::stat((server_home() / "runs" / run / "plan.json").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  const CapturedRun runs = Client({"runs", "--json"});
  ASSERT_EQ(runs.exit.code, 0) << runs.err;
  const json listed = json::parse(runs.out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["status"], "Completed");

  const CapturedRun show = Client({"show", run});
  EXPECT_EQ(show.exit.code, 0) << show.err;
  EXPECT_NE(show.out.find("Finalizing"), std::string::npos) << show.out;

  const CapturedRun logs = Client({"logs", run});
  EXPECT_EQ(logs.out, "logged 1000\nlogged 2000\nlogged 3000\n") << logs.err;

  const CapturedRun metrics = Client({"metrics", run, "--name", "loss", "--format", "csv"});
  ASSERT_EQ(metrics.exit.code, 0) << metrics.err;
  EXPECT_EQ(std::count(metrics.out.begin(), metrics.out.end(), '\n'), 3001)
      << metrics.out.substr(0, 200);

  const CapturedRun artifacts = Client({"artifacts", run, "--json"});
  ASSERT_EQ(artifacts.exit.code, 0) << artifacts.err;
  EXPECT_EQ(json::parse(artifacts.out).size(), 2u);
  const CapturedRun download =
      Client({"download", run, "outputs", "-o", (root() / "got").string()});
  ASSERT_EQ(download.exit.code, 0) << download.err;
  EXPECT_EQ(*ReadFileToString(root() / "got/outputs/model.txt"), "weights");
  EXPECT_EQ(*ReadFileToString(root() / "got/outputs/ckpt/1.txt"), "one");

  const CapturedRun experiments = Client({"experiments", "--json"});
  EXPECT_EQ(json::parse(experiments.out)[0]["run_count"], 1);

  // Datastores are the server's folders.
  fs::create_directories(root() / "data");
  EXPECT_EQ(Client({"datastore", "register", "fm", "--path", (root() / "data").string()}).exit.code,
            0);
  EXPECT_EQ(Client({"datastore", "register", "bad", "--path", "/no/such/folder"}).exit.code, 2);
  const CapturedRun datastores = Client({"datastore", "list", "--json"});
  EXPECT_EQ(json::parse(datastores.out).size(), 1u);

  const CapturedRun cancel = Client({"cancel", run});
  EXPECT_EQ(cancel.exit.code, 5) << cancel.err;  // it has ended

  // An unreachable server: exit code 6, naming it.
  StopServer();
  const CapturedRun down = Client({"runs"});
  EXPECT_EQ(down.exit.code, 6);
  EXPECT_NE(down.err.find(url()), std::string::npos) << down.err;
}

TEST_F(KilnServerTest, ResubmittingSendsNoContentsTwice) {
  StartServer();
  const fs::path project =
      Project("job", {{"train.py", "print('hi')\n"}, {"lib/big.bin", std::string(200'000, 'x')}});
  const auto submit = [&] {
    return Client(
        {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  };
  const CapturedRun first = submit();
  ASSERT_EQ(first.exit.code, 0) << first.err;
  EXPECT_EQ(first.err.find(" 0 B new"), std::string::npos) << first.err;
  const CapturedRun second = submit();
  ASSERT_EQ(second.exit.code, 0) << second.err;
  EXPECT_NE(second.err.find(" 0 B new"), std::string::npos) << second.err;

  // Contents that do not match their hash are refused.
  const auto put = Http().Put("/v1/snapshots/objects/" + std::string(64, 'a'), "nope",
                              "application/octet-stream");
  EXPECT_EQ(put->status, 400);
  // A manifest naming contents the server lacks: they are listed, nothing is stored.
  const json offered = BodyOf(Http().Post(
      "/v1/snapshots",
      json{{"manifest", R"({"entries":[{"executable":false,"path":"a.py","sha256":")" +
                            std::string(64, 'b') + R"(","size":3,"type":"file"}],"version":1})"}}
          .dump(),
      "application/json"));
  EXPECT_EQ(offered["missing"], json::array({std::string(64, 'b')})) << offered.dump();
  EXPECT_TRUE(offered["id"].is_null());
}

// Launchers report to the advertised URL (here another name of this machine).
TEST_F(KilnServerTest, LaunchersReportToTheAdvertisedUrl) {
  const Result<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  const CapturedRun wrong_scheme =
      Kiln({"server", "--listen", "127.0.0.1:0", "--advertise-url", "https://localhost:1"});
  EXPECT_EQ(wrong_scheme.exit.code, 2);
  EXPECT_NE(wrong_scheme.err.find("--advertise-url"), std::string::npos) << wrong_scheme.err;

  const std::string advertised = fmt::format("http://localhost:{}", *port);
  // StartServer listens on the port it picked the first time: make that this one.
  const std::string listening =
      StartServer({"--listen", fmt::format("127.0.0.1:{}", *port), "--advertise-url", advertised});
  ASSERT_EQ(listening, fmt::format("http://127.0.0.1:{}", *port));
  const std::string run = SubmitAndWait(MetricsProject(10, 0));
  const json plan = json::parse(*ReadFileToString(server_home() / "runs" / run / "plan.json"));
  EXPECT_EQ(plan["store"], advertised);
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + run + "/metrics"))["metrics"][0]["count"], 10);
}

TEST_F(KilnServerTest, RunTokensReachOnlyTheirRun) {
  StartServer();
  const std::string b = SubmitAndWait(MetricsProject(10, 0));
  // A run that waits for the test, so its token stays valid (ending revokes it).
  const fs::path go = root() / "go";
  const fs::path waiting =
      Project("waiting", {{"train.py", fmt::format("import os, time\nprint('up', flush=True)\n"
                                                   "while not os.path.exists('{}'):\n"
                                                   "    time.sleep(0.02)\n",
                                                   go.string())}});
  const std::string a =
      ClientSubmitOk({"--source-directory", waiting.string(), "--entry-script", "train.py"});
  bool running = false;
  for (int i = 0; i < 600 && !running; ++i) {
    running = BodyOf(Http().Get("/v1/runs/" + a))["status"] == "Running";
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(running);
  const std::string token_a = RunToken(a);
  EXPECT_EQ(Http(token_a).Get("/v1/runs/" + a)->status, 200);
  EXPECT_EQ(Http(token_a).Get("/v1/runs/" + a + "/metrics")->status, 200);
  for (const std::string& path : {"/v1/runs/" + b, "/v1/runs/" + b + "/metrics",
                                  std::string("/v1/runs"), std::string("/v1/datastores")}) {
    const auto refused = Http(token_a).Get(path);
    EXPECT_EQ(refused->status, 403) << path;
    EXPECT_EQ(BodyOf(refused)["error"]["code"], "PERMISSION_DENIED");
  }
  const auto transition = Http(token_a).Post("/v1/runs/" + b + "/transitions", R"({"to":"Failed"})",
                                             "application/json");
  EXPECT_EQ(transition->status, 403);
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + b))["status"], "Completed");
  // A run token is not a name a person can take, and is listed with --all only; b ended,
  // and its token with it.
  EXPECT_EQ(KilnJson({"server", "token", "list", "--json", "--store", store_url()}).size(), 1u);
  const nlohmann::json all =
      KilnJson({"server", "token", "list", "--all", "--json", "--store", store_url()});
  EXPECT_EQ(all.size(), 3u);
  for (const nlohmann::json& token : all) {
    if (token["name"] == "run:" + b) EXPECT_FALSE(token["revoked_at"].is_null()) << token.dump();
    if (token["name"] == "run:" + a) EXPECT_TRUE(token["revoked_at"].is_null()) << token.dump();
  }
  ASSERT_TRUE(WriteFileAtomically(go, "").ok());
  bool completed = false;
  for (int i = 0; i < 1200 && !completed; ++i) {
    completed = BodyOf(Http().Get("/v1/runs/" + a))["status"] == "Completed";
    if (!completed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(completed);
}

TEST_F(KilnServerTest, ArtifactPathsCannotEscapeTheRun) {
  StartServer();
  const std::string run = SubmitAndWait(MetricsProject(10, 0));
  ASSERT_EQ(::symlink("/etc/passwd", (server_home() / "runs" / run / "outputs" / "passwd").c_str()),
            0);
  const std::string base = "/v1/runs/" + run + "/artifacts/";
  EXPECT_EQ(Http().Get(base + "outputs/model.txt")->body, "weights");
  for (const std::string& path :
       {std::string("outputs/../plan.json"), std::string("outputs/%2e%2e/plan.json"),
        std::string("..%2Fplan.json"), std::string("%2Fetc%2Fpasswd"), std::string("plan.json"),
        std::string("outputs/passwd"), std::string("outputs/../../../../etc/passwd")}) {
    const auto refused = Http().Get(base + path);
    ASSERT_TRUE(refused) << path;
    EXPECT_TRUE(refused->status == 400 || refused->status == 404) << path << " " << refused->status;
    EXPECT_EQ(refused->body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(refused->body.find("store_token"), std::string::npos) << path;
  }
  EXPECT_EQ(Http().Get(base + "outputs/ckpt")->status, 400);  // a folder
  EXPECT_EQ(Http().Get(base + "outputs/none.txt")->status, 404);
  // The listing skips the link that leads out.
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + run + "/artifacts"))["artifacts"].size(), 2u);
  const CapturedRun cli = Client({"download", run, "outputs/../plan.json", "-o", root().string()});
  EXPECT_EQ(cli.exit.code, 2) << cli.err;
}

TEST_F(KilnServerTest, LogsFollowAsServerSentEventsUntilTheRunEnds) {
  StartServer();
  const fs::path project =
      Project("job", {{"train.py",
                       "import time\nfor i in range(8):\n    print('line', i, flush=True)\n"
                       "    time.sleep(0.15)\n"}});
  const std::string run =
      ClientSubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  std::string stream;
  const auto followed =
      Http().Get("/v1/runs/" + run + "/logs?follow=true", [&](const char* data, std::size_t n) {
        stream.append(data, n);
        return true;
      });
  ASSERT_TRUE(followed);
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->get_header_value("Content-Type"), "text/event-stream");
  std::vector<std::string> texts;
  std::size_t at = 0;
  while ((at = stream.find("event: line\ndata: ", at)) != std::string::npos) {
    at += 18;
    texts.push_back(json::parse(stream.substr(at, stream.find('\n', at) - at))["text"]);
  }
  ASSERT_EQ(texts.size(), 8u) << stream;
  EXPECT_EQ(texts[7], "line 7");
  EXPECT_NE(stream.find("event: end\ndata: {\"status\":\"Completed\"}"), std::string::npos)
      << stream;

  // `kiln logs -f` through the server prints the same lines.
  const CapturedRun logs = Client({"logs", run, "-f"});
  EXPECT_EQ(std::count(logs.out.begin(), logs.out.end(), '\n'), 8) << logs.out;
  const auto lines = BodyOf(Http().Get("/v1/runs/" + run + "/logs"));
  EXPECT_EQ(lines["lines"].size(), 8u);
  EXPECT_EQ(Http().Get("/v1/runs/" + run + "/logs?rank=3")->status, 400);
}

// SIGTERM ends a followed log (its last event says the server stopped) and the server exits
// cleanly; the run goes on, and the server started again sees it to its end.
TEST_F(KilnServerTest, StoppingEndsStreamsButNotRuns) {
  StartServer();
  const fs::path project =
      Project("job", {{"train.py",
                       "import time\nfor i in range(20):\n    print('line', i, flush=True)\n"
                       "    time.sleep(0.2)\n"}});
  const std::string run =
      ClientSubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  std::string stream;
  std::atomic<bool> got_line{false};
  httplib::Client follower = Http();
  std::thread follow([&] {
    follower.Get("/v1/runs/" + run + "/logs?follow=true", [&](const char* data, std::size_t n) {
      stream.append(data, n);
      if (stream.find("event: line") != std::string::npos) got_line = true;
      return true;
    });
  });
  for (int i = 0; i < 200 && !got_line; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(got_line);
  StopServer();  // asserts a clean exit
  follow.join();
  EXPECT_NE(stream.find("event: end\ndata: {\"status\":null}"), std::string::npos) << stream;
  EXPECT_GT(RunProcessCount(run), 0u);

  StartServer();
  const CapturedRun logs = Client({"logs", run, "-f"});
  EXPECT_EQ(std::count(logs.out.begin(), logs.out.end(), '\n'), 20) << logs.out << logs.err;
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + run))["status"], "Completed");
}

TEST_F(KilnServerTest, MalformedAndOversizedRequestsAreRefusedWithAReason) {
  StartServer({"--max-body-mb", "1"});
  const auto post = [&](const std::string& path, const std::string& body) {
    return Http().Post(path, body, "application/json");
  };
  const auto broken = post("/v1/runs", "{\"spec\": ");
  EXPECT_EQ(broken->status, 400);
  EXPECT_NE(BodyOf(broken)["error"]["message"].get<std::string>().find("not valid JSON"),
            std::string::npos);
  EXPECT_EQ(post("/v1/runs", "[1, 2]")->status, 400);

  const std::string run = SubmitAndWait(MetricsProject(10, 0));
  // A whole, valid spec (a real run's) naming a snapshot the server never received.
  nlohmann::json job = {{"spec", BodyOf(Http().Get("/v1/runs/" + run))["spec"]},
                        {"snapshot_id", std::string(64, 'b')}};
  const auto no_snapshot = post("/v1/runs", job.dump());
  EXPECT_EQ(no_snapshot->status, 400) << no_snapshot->body;
  EXPECT_NE(no_snapshot->body.find("snapshot " + std::string(64, 'b') + " is not on this server"),
            std::string::npos)
      << no_snapshot->body;
  const auto bad_status = post("/v1/runs/" + run + "/transitions", R"({"to": "Runing"})");
  EXPECT_EQ(bad_status->status, 400);
  EXPECT_NE(bad_status->body.find("transition.to: 'Runing' is not a run status"), std::string::npos)
      << bad_status->body;
  // Batches come from a live run's launcher, with its run token.
  const std::string live =
      ClientSubmitOk({"--source-directory",
                      Project("sleeper", {{"train.py", "import time\ntime.sleep(600)\n"}}).string(),
                      "--entry-script", "train.py"});
  const auto bad_batch = Http(RunToken(live))
                             .Post("/v1/runs/" + live + "/metrics",
                                   R"({"rank": 0, "offset_before": "x"})", "application/json");
  EXPECT_EQ(bad_batch->status, 400);
  EXPECT_NE(bad_batch->body.find("batch.offset_before: expected an integer"), std::string::npos)
      << bad_batch->body;
  const auto bad_query = Http().Get("/v1/runs/" + run + "/metrics/loss?max_points=2");
  EXPECT_EQ(bad_query->status, 400);

  const auto oversized = post("/v1/datastores", std::string(2 << 20, ' '));
  ASSERT_TRUE(oversized);
  EXPECT_EQ(oversized->status, 413);
  EXPECT_NE(BodyOf(oversized)["error"]["message"].get<std::string>().find("larger"),
            std::string::npos)
      << oversized->body;

  const auto unknown = Http().Get("/v1/nothing");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(BodyOf(unknown)["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(Http().Get("/v1/runs/no_such_run")->status, 404);

  // Nothing of the refused requests was stored.
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs"))["runs"].size(), 2u);
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + run + "/history"))["history"].size(), 5u);
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + live + "/metrics"))["metrics"].size(), 0u);
  EXPECT_EQ(BodyOf(Http().Get("/v1/datastores"))["datastores"].size(), 0u);
  EXPECT_EQ(Client({"cancel", live}).exit.code, 0);
}

// POST /v1/runs passes through the same Validate as a job file: a value that would leave
// runs/ or become a line of a script is refused, naming the field, and nothing is made.
TEST_F(KilnServerTest, SubmittedSpecsAreValidatedLikeJobFiles) {
  StartServer();
  const json spec = {{"version", 1},
                     {"source_directory", "/home/ana/proj"},
                     {"entry_script", "train.py"},
                     {"script_params", json::array()},
                     {"compute_target", "local"},
                     {"conda_packages", json::array()},
                     {"pip_packages", json::array()},
                     {"use_gpu", false},
                     {"node_count", 1},
                     {"process_count_per_node", 1},
                     {"distributed_backend", "none"},
                     {"experiment", "default"},
                     {"display_name", ""},
                     {"tags", json::object()},
                     {"environment_variables", json::array()},
                     {"max_run_duration_seconds", nullptr},
                     {"python", ""},
                     {"environment", nullptr},
                     {"environment_name", ""},
                     {"environment_hash", ""}};
  const auto submit = [&](const std::string& field, const json& value) {
    json changed = spec;
    changed[field] = value;
    const json body = {{"spec", changed},
                       {"snapshot_id", std::string(64, 'c')},
                       {"source", {{"file", "job.yaml"}}}};
    return Http().Post("/v1/runs", body.dump(), "application/json");
  };
  const auto expect_refused = [&](const std::string& field, const json& value,
                                  const std::string& message) {
    const auto answer = submit(field, value);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 400) << answer->body;
    EXPECT_EQ(BodyOf(answer)["error"]["code"], "INVALID_ARGUMENT");
    EXPECT_EQ(BodyOf(answer)["error"]["message"], message);
  };
  const std::string kName =
      "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; ";
  expect_refused("experiment", "../../x", "job.yaml: experiment: " + kName + "got '../../x'");
  expect_refused("experiment", "a\nb", "job.yaml: experiment: " + kName + "got 'a\\nb'");
  expect_refused("entry_script", "../../x.py",
                 "job.yaml: entry_script: must be a path inside source_directory "
                 "'/home/ana/proj', got '../../x.py'");
  expect_refused("display_name", "two\nlines",
                 "job.yaml: display_name: byte offset 3 is a newline, which is not allowed here");
  expect_refused("node_count", 0, "job.yaml: node_count: must be >= 1, got 0");
  expect_refused("node_count", 4294967297LL, "spec: node_count: must be <= 100000, got 4294967297");
  expect_refused("tags", json{{"a b", "1"}},
                 "job.yaml: tags: keys must be 1 to 128 letters, digits, '.', '_' or '-', "
                 "starting with a letter or digit; got 'a b'");
  // A valid spec gets past validation to the snapshot it names.
  const auto valid = submit("experiment", "fine");
  EXPECT_EQ(valid->status, 400);
  EXPECT_NE(BodyOf(valid)["error"]["message"].get<std::string>().find(
                "snapshot " + std::string(64, 'c') + " is not on this server"),
            std::string::npos)
      << valid->body;

  EXPECT_EQ(BodyOf(Http().Get("/v1/runs"))["runs"].size(), 0u);
  EXPECT_EQ(BodyOf(Http().Get("/v1/experiments"))["experiments"].size(), 0u);
  EXPECT_FALSE(fs::exists(server_home() / "runs") && !fs::is_empty(server_home() / "runs"));
  EXPECT_FALSE(fs::exists(root() / "x"));
}

TEST_F(KilnServerTest, EveryEndpointAnswersAsDocumented) {
  StartServer();
  const std::string run = SubmitAndWait(MetricsProject(1000, 0));
  const std::string path = "/v1/runs/" + run;

  const json one = BodyOf(Http().Get(path));
  EXPECT_EQ(one["id"], run);
  EXPECT_EQ(one["status"], "Completed");
  EXPECT_EQ(one["exit_code"], 0);
  const json listed = BodyOf(Http().Get("/v1/runs?status=Completed&limit=5"));
  EXPECT_EQ(listed["runs"].size(), 1u);
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs?active=true"))["runs"].size(), 0u);
  EXPECT_EQ(Http().Get("/v1/runs?status=Nope")->status, 400);
  const json history = BodyOf(Http().Get(path + "/history"));
  ASSERT_EQ(history["history"].size(), 5u);
  EXPECT_EQ(history["history"][0]["status"], "Queued");

  const json metrics = BodyOf(Http().Get(path + "/metrics"));
  ASSERT_EQ(metrics["metrics"].size(), 1u);
  EXPECT_EQ(metrics["metrics"][0]["count"], 1000);
  const json full = BodyOf(Http().Get(path + "/metrics/loss"));
  EXPECT_EQ(full["steps"].size(), 1000u);
  const json small = BodyOf(Http().Get(path + "/metrics/loss?max_points=50&rank=0"));
  EXPECT_LE(small["steps"].size(), 50u);
  EXPECT_EQ(small["total_count"], 1000);
  EXPECT_EQ(small["values"].back(), full["values"].back());
  EXPECT_EQ(Http().Get(path + "/metrics/nope")->status, 404);
  EXPECT_GT(BodyOf(Http().Get(path + "/spool-offsets/0"))["offset"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(BodyOf(Http().Get(path + "/spool-offsets/3"))["offset"], 0);

  // Batches come from the run's launcher only (a user's token gets 403), and never after
  // the run ended: its token was revoked then (ServerRolesTest.EveryEndOfARunRevokesItsToken).
  const std::string batch =
      R"({"rank":0,"offset_before":0,"offset_after":10,"series":[{"name":"loss","rank":0,"kind":"scalar","description":"","steps":[5],"values":[1.0],"times":[1]}]})";
  EXPECT_EQ(Http().Post(path + "/metrics", batch, "application/json")->status, 403);
  EXPECT_EQ(BodyOf(Http().Get(path + "/metrics"))["metrics"][0]["count"], 1000);

  const auto raw = Http().Get(path + "/logs/0?offset=0");
  EXPECT_EQ(raw->status, 200);
  EXPECT_EQ(raw->get_header_value("X-Kiln-Next-Offset"), std::to_string(raw->body.size()));
  EXPECT_EQ(Http().Get(path + "/logs/1")->status, 404);
  EXPECT_EQ(Http().Get(path + "/logs/99999999999999999999")->status, 400);
  EXPECT_EQ(Http().Get(path + "/spool-offsets/99999999999999999999")->status, 400);

  EXPECT_EQ(BodyOf(Http().Get("/v1/experiments"))["experiments"][0]["name"], "default");
  // Only registered targets are listed; "local" is always there besides.
  EXPECT_EQ(BodyOf(Http().Get("/v1/compute-targets"))["compute_targets"], nlohmann::json::array());

  fs::create_directories(root() / "data");
  const auto created = Http().Post(
      "/v1/datastores", json{{"name", "fm"}, {"path", (root() / "data").string()}}.dump(),
      "application/json");
  EXPECT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(BodyOf(created)["path"], (root() / "data").string());
  EXPECT_EQ(
      Http()
          .Post("/v1/datastores", json{{"name", "fm"}, {"path", (root() / "data").string()}}.dump(),
                "application/json")
          ->status,
      409);
  EXPECT_EQ(BodyOf(Http().Get("/v1/datastores/fm"))["name"], "fm");
  EXPECT_EQ(Http().Delete("/v1/datastores/fm")->status, 200);
  EXPECT_EQ(Http().Get("/v1/datastores/fm")->status, 404);

  // Cancel is a transition to CancelRequested; an ended run refuses it.
  const auto cancel =
      Http().Post(path + "/transitions", R"({"to":"CancelRequested"})", "application/json");
  EXPECT_EQ(cancel->status, 409);
  EXPECT_NE(cancel->body.find("Completed"), std::string::npos) << cancel->body;
}

// Every operation docs/openapi.yaml lists is served (none falls through to "no endpoint").
TEST_F(KilnServerTest, EveryDocumentedOperationIsServed) {
  StartServer();
  const std::string run = SubmitAndWait(MetricsProject(10, 0));
  std::ifstream spec(std::string(KILN_SOURCE_DIR) + "/docs/openapi.yaml");
  std::string line;
  std::string path;
  int operations = 0;
  while (std::getline(spec, line)) {
    if (line.starts_with("  /v1/") && line.ends_with(":")) {
      path = line.substr(2, line.size() - 3);
      for (const auto& [from, to] :
           std::vector<std::pair<std::string, std::string>>{{"{id}", run},
                                                            {"{name}", "loss"},
                                                            {"{rank}", "0"},
                                                            {"{path}", "outputs/model.txt"},
                                                            {"{sha256}", std::string(64, 'c')}}) {
        if (const std::size_t at = path.find(from); at != std::string::npos) {
          path.replace(at, from.size(), to);
        }
      }
      continue;
    }
    const std::string method = line.substr(0, line.find(':'));
    if (path.empty() || (method != "    get" && method != "    post" && method != "    put" &&
                         method != "    patch" && method != "    delete")) {
      continue;
    }
    httplib::Client client = Http();
    const httplib::Result result =
        method == "    get"     ? client.Get(path)
        : method == "    post"  ? client.Post(path, "{}", "application/json")
        : method == "    put"   ? client.Put(path, "x", "application/octet-stream")
        : method == "    patch" ? client.Patch(path, "{}", "application/json")
                                : client.Delete(path);
    ASSERT_TRUE(result) << method << " " << path;
    EXPECT_EQ(result->body.find("no endpoint"), std::string::npos) << method << " " << path;
    EXPECT_LT(result->status, 500) << method << " " << path << " " << result->body;
    ++operations;
  }
  EXPECT_EQ(operations, 50);
}

// The server stops and starts again while a run logs metrics: its launcher keeps spooling
// and catches up, so every point is stored once and the history is whole.
TEST_F(KilnServerTest, RestartDuringIngestLosesAndDuplicatesNothing) {
  StartServer();
  constexpr int kPoints = 30'000;
  const std::string run = ClientSubmitOk(
      {"--source-directory", MetricsProject(kPoints, 6).string(), "--entry-script", "train.py"});
  ASSERT_FALSE(run.empty());
  // Wait until some points are in, then take the server away for a while.
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(30)) {
    const json metrics = BodyOf(Http().Get("/v1/runs/" + run + "/metrics"));
    if (metrics.contains("metrics") && !metrics["metrics"].empty() &&
        metrics["metrics"][0]["count"].get<int>() > 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs/" + run))["status"], "Running");
  StopServer();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  StartServer();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  json status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = BodyOf(Http().Get("/v1/runs/" + run));
    if (status.value("status", "") == "Completed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(status.value("status", ""), "Completed") << status.dump() << ServerLog();

  const json series = BodyOf(Http().Get("/v1/runs/" + run + "/metrics/loss"));
  ASSERT_EQ(series["steps"].size(), static_cast<std::size_t>(kPoints));
  std::set<std::int64_t> steps;
  for (const json& step : series["steps"]) steps.insert(step.get<std::int64_t>());
  EXPECT_EQ(steps.size(), static_cast<std::size_t>(kPoints));
  EXPECT_EQ(*steps.begin(), 0);
  EXPECT_EQ(*steps.rbegin(), kPoints - 1);

  const json history = BodyOf(Http().Get("/v1/runs/" + run + "/history"));
  std::vector<std::string> statuses;
  for (const json& change : history["history"]) statuses.push_back(change["status"]);
  EXPECT_EQ(statuses, (std::vector<std::string>{"Queued", "Preparing", "Running", "Finalizing",
                                                "Completed"}));
  const CapturedRun logs = Client({"logs", run});
  EXPECT_EQ(std::count(logs.out.begin(), logs.out.end(), '\n'), kPoints / 1000);
  // The launcher did meet the outage, and went on.
  const std::string launcher = *ReadFileToString(server_home() / "runs" / run / "launcher.log");
  EXPECT_NE(launcher.find("cannot reach the Kiln server"), std::string::npos) << launcher;
}

TEST_F(KilnServerTest, ServesHttpsWithTheGivenCertificate) {
  const fs::path cert = root() / "cert.pem";
  const fs::path key = root() / "key.pem";
  SpawnOptions openssl;
  openssl.argv = {"openssl",  "req",           "-x509",   "-newkey",
                  "rsa:2048", "-nodes",        "-days",   "1",
                  "-subj",    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                  "-keyout",  key.string(),    "-out",    cert.string()};
  const Result<CapturedRun> made = RunAndCapture(openssl, std::chrono::seconds(60));
  ASSERT_TRUE(made.ok() && made->exit.code == 0) << (made.ok() ? made->err : "");

  const std::string https = StartServer({"--tls-cert", cert.string(), "--tls-key", key.string()});
  ASSERT_TRUE(https.starts_with("https://")) << https;
  const fs::path project = MetricsProject(100, 0);
  const std::vector<std::string> submit = {"submit",         "--source-directory", project.string(),
                                           "--entry-script", "train.py",           "--wait"};
  const CapturedRun trusted = Client(submit, std::nullopt, {{"KILN_CA_CERT", cert.string()}});
  ASSERT_EQ(trusted.exit.code, 0) << trusted.err << ServerLog();
  const CapturedRun metrics = Client({"metrics", FirstLine(trusted.out), "--format", "json"},
                                     std::nullopt, {{"KILN_CA_CERT", cert.string()}});
  EXPECT_EQ(json::parse(metrics.out)[0]["count"], 100) << metrics.out;

  const CapturedRun untrusted = Client({"runs"});
  EXPECT_EQ(untrusted.exit.code, 6);
  EXPECT_NE(untrusted.err.find("could not be verified"), std::string::npos) << untrusted.err;

  const CapturedRun half = Kiln({"server", "--listen", "127.0.0.1:0", "--tls-cert", cert.string()});
  EXPECT_EQ(half.exit.code, 2);
  EXPECT_NE(half.err.find("--tls-key"), std::string::npos) << half.err;

  // Other bad starts: a taken port, a malformed address.
  const std::string port = https.substr(https.rfind(':') + 1);
  const CapturedRun taken = Kiln({"server", "--listen", "127.0.0.1:" + port});
  EXPECT_EQ(taken.exit.code, 6);
  EXPECT_NE(taken.err.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << taken.err;
  const CapturedRun malformed = Kiln({"server", "--listen", "localhost"});
  EXPECT_EQ(malformed.exit.code, 2);
  EXPECT_NE(malformed.err.find("--listen: expected HOST:PORT"), std::string::npos) << malformed.err;
}

// The SDK's estimator calls, pointed at the server by KILN_SERVER.
TEST_F(KilnServerTest, ThePythonSdkWorksThroughTheServer) {
  StartServer();
  const fs::path project = MetricsProject(200, 0);
  fs::create_directories(root() / "data");
  const fs::path script = root() / "submit.py";
  ASSERT_TRUE(WriteFileAtomically(script, fmt::format(R"(import sys
from kiln import Datastore, Experiment, Workspace
from kiln.train.dnn import PyTorch
ws = Workspace()
ds = Datastore.register(ws, "d", "{}")
est = PyTorch(source_directory="{}", entry_script="train.py", script_params={{"--data": ds}},
              compute_target="local")
run = Experiment(ws, "sdk").submit(est)
run.wait_for_completion(show_output=False)
print(run.get_status(), len(run.get_metrics()["loss"]), sorted(ws.experiments))
)",
                                                      (root() / "data").string(), project.string()))
                  .ok());
  SpawnOptions python;
  python.argv = {"/usr/bin/python3", script.string()};
  std::vector<std::string> environment = CurrentEnvironment();
  environment.push_back("PYTHONPATH=" + fs::path(KILN_BINARY).parent_path().string() + "/python");
  environment.push_back("KILN_HOME=" + home().string());
  environment.push_back("KILN_SERVER=" + url());
  environment.push_back("KILN_TOKEN=" + token());
  python.env = environment;
  const Result<CapturedRun> ran = RunAndCapture(python, std::chrono::seconds(120));
  ASSERT_TRUE(ran.ok());
  EXPECT_EQ(ran->exit.code, 0) << ran->err;
  EXPECT_EQ(ran->out, "Completed 200 ['sdk']\n") << ran->err;
  EXPECT_EQ(BodyOf(Http().Get("/v1/runs?experiment=sdk"))["runs"].size(), 1u);
}

TEST_F(KilnServerTest, PostgresqlIsTheTeamStore) {
  auto postgres = store::postgres::PostgresTestServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
  const Result<std::string> database = (*postgres)->CreateDatabase();
  ASSERT_TRUE(database.ok());
  const CapturedRun created =
      Kiln({"server", "token", "create", "--name", "pg", "--store", *database});
  ASSERT_EQ(created.exit.code, 0) << created.err;
  const std::string secret = FirstLine(created.out);
  StartServer({"--store", *database});
  const CapturedRun run = Client({"submit", "--source-directory", MetricsProject(500, 0).string(),
                                  "--entry-script", "train.py", "--wait"},
                                 secret);
  ASSERT_EQ(run.exit.code, 0) << run.err << ServerLog();
  const CapturedRun metrics = Client({"metrics", FirstLine(run.out), "--format", "json"}, secret);
  EXPECT_EQ(json::parse(metrics.out)[0]["count"], 500) << metrics.out;
  StopServer();
}

}  // namespace
}  // namespace kiln::e2e
