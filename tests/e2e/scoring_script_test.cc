// Deployment with a scoring script, end to end: a real run saves a state_dict (and the same
// model as TorchScript, ONNX and a whole pickled module), the real kiln binary registers,
// deploys and serves it, a score.py written as Azure ML's documentation writes them answers
// curl (with its defaults) and concurrent clients, and its workers are killed for real.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/files.h"
#include "e2e/curl.h"
#include "e2e/served_model.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// Trains nothing: saves one small MLP every way PyTorch users save models, with its outputs
// on a fixed batch.
constexpr const char* kSavingJob = R"py(
import json, os, torch, torch.nn as nn
import kiln.onnx
torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
sample = torch.rand(8, 16)
os.makedirs("outputs", exist_ok=True)
torch.save(model.state_dict(), "outputs/weights.pt")
torch.save(model.state_dict(), "outputs/legacy.pth", _use_new_zipfile_serialization=False)
torch.save({"model": model.state_dict(), "epoch": 3}, "outputs/checkpoint.ckpt")
torch.save(model, "outputs/whole.pt")
torch.jit.script(model).save("outputs/model.pt")
kiln.onnx.export(model, sample, "outputs/model.onnx")
with torch.no_grad():
    expected = model(sample)
json.dump({"inputs": sample.tolist(), "outputs": expected.tolist()},
          open("outputs/expected.json", "w"))
)py";

// As Azure ML's documentation writes a score.py, plus ways to misbehave on request.
constexpr const char* kScoreScript = R"py(
import json
import os
import time

import torch
import torch.nn as nn


def init():
    global model
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "weights.pt")
    model.load_state_dict(torch.load(model_path, map_location="cpu"))
    model.eval()


def run(raw_data):
    request = json.loads(raw_data)
    if "sleep" in request:
        time.sleep(request["sleep"])
    if "fail" in request:
        raise ValueError(request["fail"])
    if "tensor" in request:
        return torch.zeros(2)
    data = torch.tensor(request["data"], dtype=torch.float32)
    with torch.no_grad():
        result = model(data)
    return {"result": result.tolist(), "id": request.get("id"), "pid": os.getpid()}
)py";

class ScoringScriptTest : public ServerTest {
 protected:
  // A Completed run of kSavingJob (through the server when asked); registers its files.
  std::string SavingRun(bool through_server = false) {
    const fs::path project = Project("job", {{"train.py", kSavingJob}});
    const std::vector<std::string> args = {"--source-directory", project.string(), "--entry-script",
                                           "train.py"};
    const std::string run = through_server ? ClientSubmitOk(args) : SubmitOk(args);
    const bool completed = through_server
                               ? WaitForServerStatus(run, "Completed")
                               : WaitForStatus(run, "Completed", std::chrono::seconds(120));
    EXPECT_TRUE(completed) << Kiln({"logs", run}).out;
    return run;
  }
  json Expected(const std::string& run) {
    return json::parse(ReadFileToString(RunDir(run) / "outputs" / "expected.json").value());
  }
  fs::path ScoringFolder(const std::string& script = kScoreScript) {
    return Project("deploy", {{"score.py", script}, {"README.md", "how to serve\n"}});
  }
  // Registers outputs/weights.pt as "mlp" and deploys score.py for it.
  void DeployedModel(const std::string& run) {
    ASSERT_EQ(
        Kiln({"model", "register", "mlp", "--run", run, "--path", "outputs/weights.pt"}).exit.code,
        0);
    const CapturedRun deployed = Kiln({"model", "deploy", "mlp", "--entry-script", "score.py",
                                       "--source-directory", ScoringFolder().string()});
    ASSERT_EQ(deployed.exit.code, 0) << deployed.err;
  }
  CurlReply Score(const std::string& url, const std::string& body) {
    return Curl(root(), {"-d", body, url + "/score"});
  }
};

json Health(const std::string& url) {
  httplib::Client client(url);
  const auto reply = client.Get("/health");
  return reply ? json::parse(reply->body, nullptr, false) : json();
}

void ExpectClose(const json& got, const json& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), expected[i].size());
    for (size_t j = 0; j < got[i].size(); ++j) {
      EXPECT_NEAR(got[i][j].get<double>(), expected[i][j].get<double>(), 1e-5) << i << "," << j;
    }
  }
}

TEST_F(ScoringScriptTest, AStateDictIsRecordedAsOneAndServedOnlyWithAScript) {
  const std::string run = SavingRun();
  const auto format = [&](const std::string& name, const std::string& path) {
    const CapturedRun registered =
        Kiln({"model", "register", name, "--run", run, "--path", path, "--json"});
    EXPECT_EQ(registered.exit.code, 0) << registered.err;
    return json::parse(registered.out, nullptr, false).value("format", "");
  };
  EXPECT_EQ(format("mlp", "outputs/weights.pt"), "state_dict");
  EXPECT_EQ(format("legacy", "outputs/legacy.pth"), "state_dict");
  EXPECT_EQ(format("checkpoint", "outputs/checkpoint.ckpt"), "state_dict");
  EXPECT_EQ(format("whole", "outputs/whole.pt"), "pickle") << "names torch.nn's classes";
  EXPECT_EQ(format("scripted", "outputs/model.pt"), "torchscript");
  EXPECT_EQ(format("exported", "outputs/model.onnx"), "onnx");

  const CapturedRun shown = Kiln({"model", "show", "mlp"});
  EXPECT_NE(shown.out.find("mlp:1  (state_dict)"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("deployment  none: a state_dict is served with a scoring script"),
            std::string::npos)
      << shown.out;
  const CapturedRun refused = Kiln({"serve", "mlp", "--port", "0"});
  EXPECT_EQ(refused.exit.code, 5) << refused.err;
  EXPECT_NE(refused.err.find("mlp:1 is a state_dict: its weights, without the code of the "
                             "model they belong to. Serve it with a scoring script whose init() "
                             "builds the model and loads them: kiln model deploy mlp:1 "
                             "--entry-script score.py"),
            std::string::npos)
      << refused.err;
  const CapturedRun pickle = Kiln({"serve", "whole", "--port", "0"});
  EXPECT_EQ(pickle.exit.code, 2);
  EXPECT_NE(pickle.err.find("whole:1 is a pickle file"), std::string::npos) << pickle.err;
}

TEST_F(ScoringScriptTest, ADeployedScriptScoresRequestsAndARaisingRunIsThatRequestsOwn500) {
  const std::string run = SavingRun();
  DeployedModel(run);
  const json model = KilnJson({"model", "show", "mlp", "--json"});
  EXPECT_EQ(model["deployment"]["entry_script"], "score.py");
  EXPECT_TRUE(model["deployment"]["environment"].is_null());
  EXPECT_EQ(model["deployment"]["snapshot"].get<std::string>().size(), 64u);

  ServedModel served(home(), "mlp", {"--max-body-mb", "1"});
  ASSERT_FALSE(served.url().empty());
  const json expected = Expected(run);
  const CurlReply good = Score(served.url(), json{{"data", expected["inputs"]}, {"id", 7}}.dump());
  ASSERT_EQ(good.status, 200) << good.body;
  const json answer = json::parse(good.body);
  ExpectClose(answer["result"], expected["outputs"]);
  EXPECT_EQ(answer["id"], 7);

  const CurlReply raised = Score(served.url(), R"({"fail": "the scanner is offline"})");
  EXPECT_EQ(raised.status, 500);
  EXPECT_EQ(ErrorMessage(raised), "run() raised ValueError: the scanner is offline");
  const CurlReply not_json = Score(served.url(), "this is not JSON");
  EXPECT_EQ(not_json.status, 500);
  EXPECT_EQ(ErrorMessage(not_json),
            "run() raised JSONDecodeError: Expecting value: line 1 column 1 (char 0)");
  const CurlReply tensor = Score(served.url(), R"({"tensor": 1})");
  EXPECT_EQ(tensor.status, 500);
  EXPECT_EQ(ErrorMessage(tensor),
            "run() raised TypeError: run() returned a value that is not JSON: Object of type "
            "Tensor is not JSON serializable (return dicts, lists, strings and numbers: a "
            "tensor's .tolist())");
  const fs::path binary = root() / "binary.bin";
  std::ofstream(binary, std::ios::binary) << std::string("\xff\xfe\x00\x01", 4);
  const CurlReply not_text =
      Curl(root(), {"--data-binary", "@" + binary.string(), served.url() + "/score"});
  EXPECT_EQ(not_text.status, 400);
  EXPECT_NE(ErrorMessage(not_text).find("the body is not UTF-8 text"), std::string::npos);
  const fs::path huge = root() / "huge.json";
  std::ofstream(huge) << std::string(2u << 20, ' ');
  const CurlReply too_large =
      Curl(root(), {"--data-binary", "@" + huge.string(), served.url() + "/score"});
  EXPECT_EQ(too_large.status, 413);

  const CurlReply after = Score(served.url(), json{{"data", expected["inputs"]}}.dump());
  EXPECT_EQ(after.status, 200) << "the worker keeps serving";
  EXPECT_EQ(json::parse(after.body)["pid"], answer["pid"]) << "the same worker";
  const json metadata = json::parse(Curl(root(), {served.url() + "/metadata"}).body);
  EXPECT_EQ(metadata["model"]["format"], "state_dict");
  EXPECT_EQ(metadata["scoring"]["entry_script"], "score.py");
  EXPECT_EQ(metadata["scoring"]["deployed"], true);
  EXPECT_EQ(metadata["served"]["requests"], 6) << "all but the one refused before it was read";
}

TEST_F(ScoringScriptTest, AWorkerKilledBySigkillFailsItsRequestAndIsStartedAgain) {
  DeployedModel(SavingRun());
  ServedModel served(home(), "mlp");
  ASSERT_FALSE(served.url().empty());
  const int pid = Health(served.url())["workers"][0]["pid"].get<int>();
  std::thread killer([&] {
    std::this_thread::sleep_for(1s);
    ::kill(pid, SIGKILL);
  });
  const CurlReply died = Score(served.url(), R"({"sleep": 30, "data": [[0]]})");
  killer.join();
  EXPECT_EQ(died.status, 500);
  EXPECT_EQ(ErrorMessage(died),
            fmt::format("worker 1 (pid {}) died while scoring this request: it was killed by "
                        "SIGKILL; it is started again",
                        pid));
  json health;
  for (int i = 0; i < 300; ++i) {
    health = Health(served.url());
    if (health["status"] == "ok") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["workers"][0]["restarts"], 1);
  EXPECT_EQ(health["workers"][0]["last_exit"], "was killed by SIGKILL while scoring");
  const json body = {{"data", json::array({std::vector<double>(16, 0.5)})}};
  const CurlReply good = Score(served.url(), body.dump());
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_NE(json::parse(good.body)["pid"], pid);
}

TEST_F(ScoringScriptTest, ConcurrentClientsGetTheirOwnAnswers) {
  const std::string run = SavingRun();
  DeployedModel(run);
  ServedModel served(home(), "mlp", {"--workers", "2"});
  ASSERT_FALSE(served.url().empty());
  const json expected = Expected(run);
  constexpr int kClients = 8, kRequests = 12;
  std::atomic<int> wrong{0};
  std::mutex mutex;
  std::set<int> pids;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client(served.url());
      client.set_read_timeout(60, 0);
      for (int r = 0; r < kRequests; ++r) {
        const int row = (c + r) % 8;
        const json body = {{"data", json::array({expected["inputs"][row]})}, {"id", c * 100 + r}};
        const auto reply = client.Post("/score", body.dump(), "application/json");
        const json answer = reply ? json::parse(reply->body, nullptr, false) : json();
        const bool right = reply && reply->status == 200 && answer["id"] == c * 100 + r &&
                           std::abs(answer["result"][0][0].get<double>() -
                                    expected["outputs"][row][0].get<double>()) < 1e-5;
        if (!right) {
          ++wrong;
          continue;
        }
        std::lock_guard lock(mutex);
        pids.insert(answer["pid"].get<int>());
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(pids.size(), 2u) << "both workers served";
}

TEST_F(ScoringScriptTest, BadDeploymentsSayWhatIsWrongAndRecordNothing) {
  const std::string run = SavingRun();
  ASSERT_EQ(
      Kiln({"model", "register", "mlp", "--run", run, "--path", "outputs/weights.pt"}).exit.code,
      0);
  const fs::path folder =
      Project("bad", {{"norun.py", "def init():\n    pass\n"},
                      {"broken.py", "def init(:\n"},
                      {"score.txt", "def init(): pass\ndef run(d): return d\n"},
                      {"ignored.py", "def init(): pass\ndef run(d): return d\n"},
                      {".kilnignore", "ignored.py\n"},
                      {"fine.py", "from helpers import run\ndef init():\n    pass\n"}});
  const auto refused = [&](const std::vector<std::string>& args, int code,
                           const std::string& says) {
    std::vector<std::string> deploy = {"model", "deploy"};
    deploy.insert(deploy.end(), args.begin(), args.end());
    const CapturedRun result = Kiln(deploy);
    EXPECT_EQ(result.exit.code, code) << result.err;
    EXPECT_NE(result.err.find(says), std::string::npos) << result.err;
  };
  const std::string dir = folder.string();
  refused({"mlp", "--entry-script", "missing.py", "--source-directory", dir}, 2,
          fmt::format("entry script 'missing.py': no such file in '{}'", dir));
  refused({"mlp", "--entry-script", "norun.py", "--source-directory", dir}, 2,
          "norun.py defines no run(): a scoring script defines init() (load the model from "
          "KILN_MODEL_DIR) and run(raw_data) (score one request's body, return JSON) at its top "
          "level");
  refused({"mlp", "--entry-script", "broken.py", "--source-directory", dir}, 2,
          "broken.py: line 1: ");
  refused({"mlp", "--entry-script", "score.txt", "--source-directory", dir}, 2,
          "a scoring script is a Python file (.py)");
  refused({"mlp", "--entry-script", "../score.py", "--source-directory", dir}, 2,
          "give a path inside the source directory");
  refused({"mlp", "--entry-script", "ignored.py", "--source-directory", dir}, 2,
          "'ignored.py' is excluded from the snapshot");
  refused({"mlp", "--entry-script", "fine.py", "--source-directory", "/no/such/folder"}, 2,
          "source directory '/no/such/folder': no such folder");
  refused({"nothing", "--entry-script", "fine.py", "--source-directory", dir}, 3,
          "model 'nothing' is not registered");
  refused({"mlp:9", "--entry-script", "fine.py", "--source-directory", dir}, 3,
          "model 'mlp' has no version 9");
  refused(
      {"mlp", "--entry-script", "fine.py", "--source-directory", dir, "--environment", "nowhere"},
      3, "nowhere");
  EXPECT_TRUE(KilnJson({"model", "show", "mlp", "--json"})["deployment"].is_null());

  // A script whose init() fails: kiln serve says why and does not start.
  const fs::path failing =
      Project("failing", {{"score.py",
                           "def init():\n    raise RuntimeError('weights.pt is from another "
                           "model')\n\ndef run(raw_data):\n    return raw_data\n"}});
  ASSERT_EQ(
      Kiln({"model", "deploy", "mlp", "--entry-script", (failing / "score.py").string()}).exit.code,
      0);
  const CapturedRun serve = Kiln({"serve", "mlp", "--port", "0"});
  EXPECT_EQ(serve.exit.code, 2);
  EXPECT_NE(serve.err.find("mlp:1: the scoring script's workers did not start: worker 1: "
                           "RuntimeError: weights.pt is from another model"),
            std::string::npos)
      << serve.err;
  EXPECT_TRUE(fs::is_empty(home() / "serve")) << "nothing left behind";

  const CapturedRun undeployed = Kiln({"model", "undeploy", "mlp"});
  EXPECT_EQ(undeployed.exit.code, 0) << undeployed.err;
  EXPECT_EQ(Kiln({"model", "undeploy", "mlp"}).exit.code, 3);
}

TEST_F(ScoringScriptTest, ATorchScriptModelIsServedNativelyInTheOnnxShapes) {
  const std::string run = SavingRun();
  ASSERT_EQ(
      Kiln({"model", "register", "scripted", "--run", run, "--path", "outputs/model.pt"}).exit.code,
      0);
  ServedModel served(home(), "scripted", {"--threads", "1"});
  ASSERT_FALSE(served.url().empty());
  const json expected = Expected(run);
  const CurlReply scored = Score(served.url(), json{{"inputs", expected["inputs"]}}.dump());
  ASSERT_EQ(scored.status, 200) << scored.body;
  const json answer = json::parse(scored.body);
  EXPECT_EQ(answer["model"], "scripted");
  EXPECT_EQ(answer["version"], 1);
  ExpectClose(answer["outputs"]["output"], expected["outputs"]);
  EXPECT_EQ(answer["argmax"].size(), 8u);
  const CurlReply by_name =
      Score(served.url(), json{{"inputs", {{"input", expected["inputs"]}}}}.dump());
  EXPECT_EQ(by_name.status, 200) << by_name.body;
  const CurlReply wrong = Score(served.url(), R"({"inputs": [[1.5, 2, 3]]})");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(ErrorMessage(wrong),
            "the model refused the inputs: RuntimeError: mat1 and mat2 "
            "shapes cannot be multiplied (1x3 and 16x32)");
  const CurlReply unknown = Score(served.url(), R"({"inputs": {"x": [[1]]}})");
  EXPECT_EQ(ErrorMessage(unknown), "inputs.x: the model has no input 'x'; it takes input");
  // Numbers written as integers are int64, which a Linear refuses: tried again as float32.
  std::vector<int> pixels(16, 1);
  const CurlReply integers = Score(served.url(), json{{"inputs", json::array({pixels})}}.dump());
  EXPECT_EQ(integers.status, 200) << integers.body;
  EXPECT_EQ(json::parse(Curl(root(), {served.url() + "/metadata"}).body)["scoring"]["kind"],
            "torchscript");
}

TEST_F(ScoringScriptTest, StoppingOrKillingServeLeavesNoWorker) {
  DeployedModel(SavingRun());
  for (const int signal : {SIGTERM, SIGKILL}) {
    auto pipe = MakePipe();
    ASSERT_TRUE(pipe.ok());
    SpawnOptions options;
    options.argv = {KILN_BINARY, "serve", "mlp", "--port", "0", "--workers", "2"};
    std::vector<std::string> env = CurrentEnvironment();
    env.push_back("KILN_HOME=" + home().string());
    options.env = env;
    options.stdout_fd = pipe->second.get();
    options.kill_with_parent = true;  // a failed assertion leaves nothing running
    Result<Subprocess> serve = RealSpawner().Spawn(options);
    ASSERT_TRUE(serve.ok());
    pipe->second.reset();
    const Result<std::string> line = ReadFirstLine(pipe->first.get(), 60s);
    ASSERT_TRUE(line.ok()) << line.status().message();
    const std::string url = line->substr(line->rfind(' ') + 1);
    std::vector<int> pids;
    const json health = Health(url);
    for (const json& worker : health["workers"]) pids.push_back(worker["pid"].get<int>());
    ASSERT_EQ(pids.size(), 2u);
    ::kill(serve->pid(), signal);
    const Result<ExitStatus> exit = serve->WaitFor(30s);
    ASSERT_TRUE(exit.ok());
    if (signal == SIGTERM) EXPECT_TRUE(exit->success()) << exit->Describe();
    for (const int pid : pids) {
      bool gone = false;
      for (int i = 0; i < 100 && !gone; ++i) {
        std::ifstream stat(fmt::format("/proc/{}/stat", pid));
        std::string text;
        std::getline(stat, text);
        gone = text.empty() || text.find(") Z") != std::string::npos;
        if (!gone) std::this_thread::sleep_for(50ms);
      }
      EXPECT_TRUE(gone) << "worker " << pid << " outlived kiln serve (" << SignalName(signal)
                        << ")";
    }
  }
}

TEST_F(ScoringScriptTest, WorkersRunInTheDeploymentsEnvironment) {
  const std::string run = SavingRun();
  ASSERT_EQ(
      Kiln({"model", "register", "mlp", "--run", run, "--path", "outputs/weights.pt"}).exit.code,
      0);
  const fs::path wheels = MakeWheel("kiln_scoretest");
  const fs::path definition = root() / "scoring-env.yaml";
  std::ofstream(definition) << fmt::format(
      "name: scoring\npip_packages: [kiln-scoretest]\npip_find_links: [{}]\n"
      "environment_variables: {{SCORING_MODE: strict}}\n",
      wheels.string());
  ASSERT_EQ(Kiln({"env", "register", definition.string()}).exit.code, 0);
  const fs::path folder = Project(
      "envscore", {{"score.py",
                    "import os, sys\nimport kiln_scoretest\n\ndef init():\n    pass\n\n"
                    "def run(raw_data):\n    return {'value': kiln_scoretest.VALUE, 'prefix': "
                    "sys.prefix, 'mode': os.environ.get('SCORING_MODE'), 'token': "
                    "os.environ.get('KILN_TOKEN')}\n"}});
  const CapturedRun deployed =
      Kiln({"model", "deploy", "mlp", "--entry-script", "score.py", "--source-directory",
            folder.string(), "--environment", "scoring", "--json"});
  ASSERT_EQ(deployed.exit.code, 0) << deployed.err;
  const json deployment = json::parse(deployed.out)["deployment"];
  EXPECT_EQ(deployment["environment"], "scoring:1");
  EXPECT_EQ(deployment["environment_definition"]["pip_packages"][0], "kiln-scoretest");

  ServedModel served(home(), "mlp", {}, {"KILN_TOKEN=not-for-scripts"});
  ASSERT_FALSE(served.url().empty());
  const CurlReply scored = Score(served.url(), "{}");
  ASSERT_EQ(scored.status, 200) << scored.body;
  const json answer = json::parse(scored.body);
  EXPECT_EQ(answer["value"], 42);
  EXPECT_EQ(answer["mode"], "strict");
  EXPECT_TRUE(answer["token"].is_null()) << "a worker never holds the store's credentials";
  EXPECT_TRUE(answer["prefix"].get<std::string>().starts_with((home() / "envs").string()))
      << answer["prefix"];
}

TEST_F(ScoringScriptTest, DeploymentsGoThroughAServerAndServeFromAnotherMachinesHome) {
  StartServer();
  const std::string run = SavingRun(/*through_server=*/true);
  ASSERT_EQ(
      Client({"model", "register", "mlp", "--run", run, "--path", "outputs/weights.pt"}).exit.code,
      0);
  const fs::path folder = ScoringFolder();
  const CapturedRun unknown_env =
      Client({"model", "deploy", "mlp", "--entry-script", "score.py", "--source-directory",
              folder.string(), "--environment", "nowhere"});
  EXPECT_EQ(unknown_env.exit.code, 3) << unknown_env.err;
  const CapturedRun viewer = Client({"model", "deploy", "mlp", "--entry-script", "score.py",
                                     "--source-directory", folder.string()},
                                    CreateToken("watcher", "viewer"));
  EXPECT_EQ(viewer.exit.code, 7) << viewer.err;
  const CapturedRun deployed = Client({"model", "deploy", "mlp", "--entry-script", "score.py",
                                       "--source-directory", folder.string(), "--json"});
  ASSERT_EQ(deployed.exit.code, 0) << deployed.err << ServerLog();
  const std::string snapshot = json::parse(deployed.out)["deployment"]["snapshot"];
  EXPECT_TRUE(fs::exists(server_home() / "snapshots" / "manifests" / (snapshot + ".json")))
      << "the folder went to the server";
  EXPECT_EQ(BodyOf(Http().Get("/v1/models/mlp/versions/1"))["deployment"]["entry_script"],
            "score.py");

  // Served from a home that never saw the folder: the snapshot comes from the server.
  const fs::path elsewhere = root() / "elsewhere";
  {
    ServedModel served(elsewhere, "mlp", {}, {"KILN_SERVER=" + url(), "KILN_TOKEN=" + token()});
    ASSERT_FALSE(served.url().empty());
    const json body = {{"data", json::parse(ReadFileToString(server_home() / "runs" / run /
                                                             "outputs" / "expected.json")
                                                .value())["inputs"]}};
    const CurlReply scored = Score(served.url(), body.dump());
    EXPECT_EQ(scored.status, 200) << scored.body;
  }
  const CapturedRun undeployed = Client({"model", "undeploy", "mlp:1"});
  EXPECT_EQ(undeployed.exit.code, 0) << undeployed.err;
  EXPECT_TRUE(BodyOf(Http().Get("/v1/models/mlp/versions/1"))["deployment"].is_null());
}

}  // namespace
}  // namespace kiln::e2e
