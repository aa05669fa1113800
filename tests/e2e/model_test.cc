// The model registry and `kiln serve`, end to end: a real run exports an ONNX model, the
// real kiln binary registers it (embedded store and through a server), and a real scoring
// server answers over HTTP, also to malformed payloads and concurrent clients.

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/files.h"
#include "common/sha256.h"
#include "e2e/curl.h"
#include "e2e/served_model.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A job that trains nothing: it exports a small MLP (with a dynamic batch) and writes the
// PyTorch outputs of a fixed batch next to it, so the served outputs can be compared.
constexpr const char* kExportScript = R"py(
import json, os, torch, torch.nn as nn
import kiln.onnx
from kiln import Run
torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
sample = torch.rand(8, 1, 4, 4)
os.makedirs("outputs", exist_ok=True)
report = kiln.onnx.export(model, sample, "outputs/model.onnx")
with torch.no_grad():
    expected = model(sample)
json.dump({"inputs": sample.tolist(), "outputs": expected.tolist()},
          open("outputs/expected.json", "w"))
torch.jit.script(model).save("outputs/model.pt")
Run.get_context().log("accuracy", 0.75)
print("parity", report.max_abs_diff)
)py";

class ModelTest : public ServerTest {
 protected:
  std::string ExportingRun(bool through_server = false) {
    const fs::path project = Project("job", {{"train.py", kExportScript}});
    const std::vector<std::string> args = {"--source-directory", project.string(), "--entry-script",
                                           "train.py"};
    const std::string run = through_server ? ClientSubmitOk(args) : SubmitOk(args);
    EXPECT_TRUE(through_server ? WaitFor(run)
                               : WaitForStatus(run, "Completed", std::chrono::seconds(120)))
        << Kiln({"logs", run}).out;
    return run;
  }
  bool WaitFor(const std::string& run) {
    for (int i = 0; i < 600; ++i) {
      const CapturedRun show = Client({"show", run, "--json"});
      if (show.exit.code == 0 && json::parse(show.out)["status"] == "Completed") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  json Expected(const std::string& run) {
    return json::parse(ReadFileToString(RunDir(run) / "outputs" / "expected.json").value());
  }

  // `kiln serve` on a model of this test's home; stopped with the test.
  std::string Serve(const std::string& model, const std::vector<std::string>& args = {}) {
    served_.emplace(home(), model, args);
    return served_->url();
  }

  std::optional<ServedModel> served_;
};

httplib::Client ClientOf(const std::string& url) {
  httplib::Client client(url);
  client.set_read_timeout(30, 0);
  return client;
}

void ExpectClose(const json& got, const json& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), expected[i].size());
    for (size_t j = 0; j < got[i].size(); ++j) {
      EXPECT_NEAR(got[i][j].get<double>(), expected[i][j].get<double>(), 1e-4) << i << "," << j;
    }
  }
}

TEST_F(ModelTest, VersionsCountUpAndKeepTheirLineage) {
  const std::string run = ExportingRun();
  const json first = KilnJson({"model", "register", "mlp", "--run", run, "--tag", "stage=dev",
                               "--description", "a test model", "--json"});
  EXPECT_EQ(first["version"], 1);
  const json second =
      KilnJson({"model", "register", "mlp", "--run", run.substr(run.rfind('_') + 1), "--json"});
  EXPECT_EQ(second["version"], 2);

  const json shown = KilnJson({"model", "show", "mlp:1", "--json"});
  const json run_record = KilnJson({"show", run, "--json"});
  EXPECT_EQ(shown["run"], run);
  EXPECT_EQ(shown["experiment"], run_record["experiment"]);
  EXPECT_EQ(shown["snapshot"], run_record["snapshot_id"]);
  EXPECT_EQ(shown["format"], "onnx");
  EXPECT_EQ(shown["tags"]["stage"], "dev");
  EXPECT_EQ(shown["description"], "a test model");
  EXPECT_DOUBLE_EQ(shown["metrics"]["accuracy"].get<double>(), 0.75);
  EXPECT_LT(shown["parity"]["max_abs_diff"].get<double>(), 1e-4);
  EXPECT_EQ(shown["signature"]["inputs"][0]["shape"], json::parse("[null,1,4,4]"));
  const std::string bytes = ReadFileToString(RunDir(run) / "outputs" / "model.onnx").value();
  EXPECT_EQ(shown["sha256"], Sha256::HexOf(bytes));
  EXPECT_EQ(KilnJson({"model", "show", "mlp", "--json"})["version"], 2) << "the latest";

  // The registered file is a copy: it survives the run directory.
  fs::remove_all(RunDir(run));
  const fs::path out = root() / "download";
  fs::create_directories(out);
  ASSERT_EQ(Kiln({"model", "download", "mlp:1", "-o", out.string()}).exit.code, 0);
  EXPECT_EQ(ReadFileToString(out / "model.onnx").value(), bytes);
  const CapturedRun overwrite = Kiln({"model", "download", "mlp:1", "-o", out.string()});
  EXPECT_EQ(overwrite.exit.code, 5) << "never overwrites: " << overwrite.err;
  EXPECT_NE(overwrite.err.find("exists already"), std::string::npos) << overwrite.err;

  ASSERT_EQ(Kiln({"model", "remove", "mlp:2"}).exit.code, 0);
  EXPECT_EQ(KilnJson({"model", "list", "--json"})["models"].size(), 1u);
  // Both versions had the same content: the file stays while one refers to it.
  ASSERT_EQ(Kiln({"model", "download", "mlp:1", "-o", (out / "again.onnx").string()}).exit.code, 0);
  ASSERT_EQ(Kiln({"model", "remove", "mlp", "--all"}).exit.code, 0);
  EXPECT_TRUE(fs::is_empty(home() / "models" / "sha256"));
}

TEST_F(ModelTest, BadRegistrationsSayWhatIsWrongAndStoreNothing) {
  const std::string run = ExportingRun();
  const auto refused = [&](const std::vector<std::string>& args, const std::string& says) {
    std::vector<std::string> full = {"model", "register"};
    full.insert(full.end(), args.begin(), args.end());
    const CapturedRun r = Kiln(full);
    EXPECT_NE(r.exit.code, 0);
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  };
  refused({"bad name", "--run", run}, "model name 'bad name' is not valid");
  refused({"m", "--run", run, "--path", "outputs/none.onnx"},
          "has no artifact 'outputs/none.onnx'");
  refused({"m", "--run", run, "--path", "logs/rank-0.log"}, "outputs");
  refused({"m", "--run", "nosuchrun"}, "nosuchrun");
  refused({"m", "--run", run, "--tag", "novalue"}, "--tag 'novalue': give KEY=VALUE");
  fs::create_directories(RunDir(run) / "outputs");
  ASSERT_TRUE(WriteFileAtomically(RunDir(run) / "outputs" / "broken.onnx", "not a model").ok());
  refused({"m", "--run", run, "--path", "outputs/broken.onnx"}, "not an ONNX model");

  const fs::path failing = Project("failing", {{"train.py", "raise SystemExit(3)\n"}});
  const std::string failed =
      SubmitOk({"--source-directory", failing.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(failed, "Failed"));
  refused({"m", "--run", failed}, "is Failed; register models from a Completed run");
  EXPECT_EQ(KilnJson({"model", "list", "--json"})["models"].size(), 0u);
  EXPECT_FALSE(fs::exists(home() / "models" / "sha256") &&
               !fs::is_empty(home() / "models" / "sha256"));
}

TEST_F(ModelTest, ExportTurnsARunsTorchScriptIntoACheckedOnnxModel) {
  const std::string run = ExportingRun();
  const CapturedRun exported =
      Kiln({"model", "export", run, "--path", "outputs/model.pt", "--input-shape", "2,1,4,4", "-o",
            "outputs/from-ts.onnx", "--name", "mlp-ts"});
  ASSERT_EQ(exported.exit.code, 0) << exported.err;
  EXPECT_NE(exported.out.find("parity max abs diff"), std::string::npos) << exported.out;
  const json shown = KilnJson({"model", "show", "mlp-ts", "--json"});
  EXPECT_EQ(shown["path"], "outputs/from-ts.onnx");
  EXPECT_LT(shown["parity"]["max_abs_diff"].get<double>(), 1e-4);
  // The default output name is taken (model.onnx): it is never overwritten.
  const CapturedRun again = Kiln({"model", "export", run, "--input-shape", "2,1,4,4"});
  EXPECT_EQ(again.exit.code, 5) << again.err;
  EXPECT_NE(again.err.find("has an artifact 'outputs/model.onnx' already"), std::string::npos)
      << again.err;
  const CapturedRun wrong =
      Kiln({"model", "export", run, "--input-shape", "2,3,4,4", "-o", "outputs/wrong.onnx"});
  EXPECT_EQ(wrong.exit.code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("outputs/model.pt: the export failed"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(RunDir(run) / "outputs" / "wrong.onnx"));
}

// A model ONNX accepts but Kiln's engine cannot run (CumSum): exported and registered all
// the same, saying which engine serves it; `kiln serve` names the operator and its node.
constexpr const char* kUnsupportedScript = R"py(
import os, torch, kiln.onnx
class CumulativeSum(torch.nn.Module):
    def forward(self, x):
        return torch.cumsum(x.flatten(1), dim=1)
os.makedirs("outputs", exist_ok=True)
report = kiln.onnx.export(CumulativeSum(), torch.ones(2, 3), "outputs/model.onnx")
print(report.engine)
torch.jit.trace(CumulativeSum(), torch.ones(2, 3)).save("outputs/cumsum.pt")
)py";

TEST_F(ModelTest, AModelTheEngineCannotRunIsRegisteredWithParityNotChecked) {
  const fs::path project = Project("cumsum", {{"train.py", kUnsupportedScript}});
  const std::string run =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(run, "Completed", std::chrono::seconds(120)))
      << Kiln({"logs", run}).out;
  ASSERT_EQ(Kiln({"model", "register", "cumsum", "--run", run}).exit.code, 0);
  const json shown = KilnJson({"model", "show", "cumsum", "--json"});
  EXPECT_EQ(shown["parity"]["parity_checked"], false);
  EXPECT_TRUE(shown["parity"]["max_abs_diff"].is_null());
  const std::string engine = shown["parity"]["engine"].get<std::string>();
  EXPECT_NE(engine.find("(CumSum): this operator is not supported"), std::string::npos) << engine;
  EXPECT_NE(engine.find("parity not checked"), std::string::npos) << engine;
  const CapturedRun text = Kiln({"model", "show", "cumsum"});
  EXPECT_NE(text.out.find("engine      engine: node"), std::string::npos) << text.out;
  const CapturedRun listed = Kiln({"model", "list"});
  EXPECT_NE(listed.out.find("unchecked"), std::string::npos) << listed.out;
  const CapturedRun served = Kiln({"serve", "cumsum", "--port", "0"});
  EXPECT_NE(served.exit.code, 0);
  EXPECT_NE(served.err.find("(CumSum): this operator is not supported"), std::string::npos)
      << served.err;

  // From TorchScript: kept with parity not checked, or with --strict refused and removed.
  const CapturedRun kept = Kiln({"model", "export", run, "--path", "outputs/cumsum.pt",
                                 "--input-shape", "2,3", "-o", "outputs/kept.onnx"});
  EXPECT_EQ(kept.exit.code, 0) << kept.err;
  EXPECT_NE(kept.out.find("parity not checked"), std::string::npos) << kept.out;
  EXPECT_TRUE(fs::exists(RunDir(run) / "outputs" / "kept.onnx"));
  const CapturedRun strict =
      Kiln({"model", "export", run, "--path", "outputs/cumsum.pt", "--input-shape", "2,3", "-o",
            "outputs/strict.onnx", "--strict"});
  EXPECT_EQ(strict.exit.code, 2) << strict.err;
  EXPECT_NE(strict.err.find("strict=True, so the file was removed"), std::string::npos)
      << strict.err;
  EXPECT_FALSE(fs::exists(RunDir(run) / "outputs" / "strict.onnx"));
}

constexpr const char* kTokenScript = R"py(
import os, torch, kiln.onnx
class Bag(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
    def forward(self, ids):
        return self.embed(ids).sum(1)
os.makedirs("outputs", exist_ok=True)
report = kiln.onnx.export(Bag(), torch.tensor([[1, 2, 3], [4, 5, 6]]), "outputs/model.onnx",
                          input_names=["ids"], dynamic_axes={"ids": {1: "sequence"}})
assert report.passed, report
)py";

TEST_F(ModelTest, AModelOverTokenIdsIsRegisteredAndServedWithIntegerInputs) {
  const fs::path project = Project("bag", {{"train.py", kTokenScript}});
  const std::string run =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(run, "Completed", std::chrono::seconds(120)))
      << Kiln({"logs", run}).out;
  ASSERT_EQ(Kiln({"model", "register", "bag", "--run", run}).exit.code, 0);
  const json shown = KilnJson({"model", "show", "bag", "--json"});
  EXPECT_EQ(shown["parity"]["parity_checked"], true);
  httplib::Client client = ClientOf(Serve("bag", {"--threads", "1"}));
  // One integer input: a list of samples, or int64s described by X-Kiln-Shape.
  const auto scored =
      client.Post("/score", R"({"inputs": [[1, 2, 3], [3, 2, 1]]})", "application/json");
  ASSERT_TRUE(scored);
  ASSERT_EQ(scored->status, 200) << scored->body;
  const json rows = json::parse(scored->body)["outputs"]["output"];
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].size(), 4u);
  ExpectClose(json::array({rows[1]}), json::array({rows[0]}));  // a sum over the same ids
  const std::vector<std::int64_t> ids = {1, 2, 3, 4, 5, 6, 7, 8};
  const auto raw = client.Post("/score", httplib::Headers{{"X-Kiln-Shape", "2,4"}},
                               std::string(reinterpret_cast<const char*>(ids.data()), 64),
                               "application/octet-stream");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 200) << raw->body;
}

TEST_F(ModelTest, TheServerScoresJsonAndRawBatchesLikePyTorch) {
  const std::string run = ExportingRun();
  ASSERT_EQ(Kiln({"model", "register", "mlp", "--run", run}).exit.code, 0);
  const json expected = Expected(run);
  const std::string url = Serve("mlp:1", {"--threads", "1"});
  httplib::Client client = ClientOf(url);

  const auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const json metadata = json::parse(client.Get("/metadata")->body);
  EXPECT_EQ(metadata["model"]["name"], "mlp");
  EXPECT_EQ(metadata["model"]["version"], 1);
  EXPECT_EQ(metadata["inputs"][0]["shape"], json::parse("[null,1,4,4]"));
  EXPECT_EQ(metadata["outputs"][0]["name"], "output");

  const auto scored =
      client.Post("/score", json{{"inputs", expected["inputs"]}}.dump(), "application/json");
  ASSERT_TRUE(scored);
  ASSERT_EQ(scored->status, 200) << scored->body;
  const json body = json::parse(scored->body);
  ExpectClose(body["outputs"]["output"], expected["outputs"]);
  ASSERT_EQ(body["argmax"].size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const auto& row = expected["outputs"][i];
    const auto best = std::max_element(row.begin(), row.end()) - row.begin();
    EXPECT_EQ(body["argmax"][i], best);
  }

  // The same batch as raw float32, answered raw.
  std::vector<float> flat;
  for (const json& sample : expected["inputs"]) {
    for (const json& c : sample)
      for (const json& r : c)
        for (const json& v : r) flat.push_back(v.get<float>());
  }
  std::string raw(flat.size() * 4, '\0');
  std::memcpy(raw.data(), flat.data(), raw.size());
  httplib::Headers headers = {{"X-Kiln-Shape", "8,1,4,4"}, {"Accept", "application/octet-stream"}};
  const auto raw_scored = client.Post("/score", headers, raw, "application/octet-stream");
  ASSERT_TRUE(raw_scored);
  ASSERT_EQ(raw_scored->status, 200) << raw_scored->body;
  EXPECT_EQ(raw_scored->get_header_value("X-Kiln-Shape"), "8,4");
  ASSERT_EQ(raw_scored->body.size(), 8u * 4 * 4);
  std::vector<float> out(32);
  std::memcpy(out.data(), raw_scored->body.data(), raw_scored->body.size());
  for (size_t i = 0; i < 32; ++i)
    EXPECT_NEAR(out[i], expected["outputs"][i / 4][i % 4].get<double>(), 1e-4);
}

TEST_F(ModelTest, MalformedPayloadsAreRefusedWithTheirReasonAndTheServerKeepsServing) {
  const std::string run = ExportingRun();
  ASSERT_EQ(Kiln({"model", "register", "mlp", "--run", run}).exit.code, 0);
  const std::string url = Serve("mlp", {"--max-body-mb", "1"});
  httplib::Client client = ClientOf(url);
  const auto refused = [&](const std::string& body, const std::string& says,
                           const httplib::Headers& headers = {},
                           const std::string& type = "application/json", int status = 400) {
    const auto reply = client.Post("/score", headers, body, type.c_str());
    ASSERT_TRUE(reply) << "the server must answer: " << body.substr(0, 60);
    EXPECT_EQ(reply->status, status) << body.substr(0, 60) << " -> " << reply->body;
    const json error = json::parse(reply->body, nullptr, false);
    ASSERT_TRUE(error.is_object()) << reply->body;
    EXPECT_NE(error["error"]["message"].get<std::string>().find(says), std::string::npos)
        << reply->body;
  };
  refused("{\"inputs\": [[1, 2", "not JSON");
  refused("[1, 2, 3]", "must be a JSON object");
  refused("{\"inputs\": []}", "non-empty array");
  refused("{\"inputs\": [[1, 2, 3]]}", "inputs[0]: 3 numbers; the model takes 16 per sample");
  refused(json{{"inputs", {std::vector<std::string>(16, "x")}}}.dump(),
          "inputs[0][0]: \"x\" is not a number");
  refused("{\"inputs\": [[[[1,2,3,4],[1,2,3,4],[1,2,3,4]]]]}",
          "inputs[0][0]: expected an array of 4");
  refused("{\"inputs\": [[1e39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}",
          "does not fit in a float32");
  refused(std::string(64, '\0'), "not JSON");
  refused(std::string(64, 'a'), "needs the header X-Kiln-Shape", {}, "application/octet-stream");
  refused(std::string(60, '\0'), "the body has 60 bytes", {{"X-Kiln-Shape", "1,1,4,4"}},
          "application/octet-stream");
  refused(std::string(64, '\0'), "the model takes samples of shape [1,4,4]",
          {{"X-Kiln-Shape", "1,2,4,2"}}, "application/octet-stream");
  refused(std::string(64, '\0'), "positive sizes", {{"X-Kiln-Shape", "1,-1,4,4"}},
          "application/octet-stream");
  refused(std::string(2u << 20, ' '),
          "the body of 2097152 bytes is larger than the 1048576 bytes this server takes (kiln "
          "serve --max-body-mb sets the limit)",
          {}, "application/json", 413);

  // Hostile X-Kiln-Shape headers: each a 400 naming the problem, nothing allocated for them.
  const std::string one(64, '\0');  // one sample of 16 float32 zeros
  const auto raw = [&](const std::string& shape, const std::string& says, const std::string& body) {
    refused(body, says, {{"X-Kiln-Shape", shape}}, "application/octet-stream");
  };
  raw("9223372036854775807,1,4,4",
      "needs 9223372036854775807 samples of 16 float32s (64 bytes each): the body holds 1 samples",
      one);
  raw("4611686018427387904,16", "needs 4611686018427387904 samples", one);
  raw("99999999999999999999,1,4,4", "size 1 is '99999999999999999999'; expected positive sizes",
      one);
  raw("1,4294967296,4294967296,4294967296",
      "3 dimensions after the batch, [4294967296,4294967296,4294967296]", one);
  raw("-5,1,4,4", "size 1 is '-5'", one);
  raw("0,1,4,4", "size 1 is '0'", one);
  raw("1,1,4,4,1",
      "4 dimensions after the batch, [1,4,4,1]; the model takes samples of shape [1,4,4]", one);
  raw("2,1,4,4", "the body has 64 bytes; X-Kiln-Shape '2,1,4,4' needs 2 samples", one);
  raw("1,1,4,4", "the body holds 1 samples and 3 bytes more", one + "abc");

  // Random bytes and random truncations of a good body: always an answer, never a crash.
  std::mt19937 random(7);
  const std::string good = json{{"inputs", {std::vector<float>(16, 0.5f)}}}.dump();
  for (int i = 0; i < 200; ++i) {
    std::string body =
        i % 2 == 0 ? good.substr(0, random() % good.size()) : std::string(random() % 300, '\0');
    if (i % 2 == 1)
      for (char& c : body) c = static_cast<char>(random());
    const auto reply =
        client.Post("/score", body, i % 3 == 0 ? "application/octet-stream" : "application/json");
    ASSERT_TRUE(reply) << i;
    EXPECT_EQ(reply->status, 400) << i;
  }
  const auto fine = client.Post("/score", good, "application/json");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(client.Get("/nothing")->status, 404);
}

TEST_F(ModelTest, ConcurrentClientsGetTheirOwnRowsFromSharedBatches) {
  const std::string run = ExportingRun();
  ASSERT_EQ(Kiln({"model", "register", "mlp", "--run", run}).exit.code, 0);
  const json expected = Expected(run);
  const std::string url = Serve("mlp", {"--max-batch", "16", "--batch-timeout-us", "2000"});
  constexpr int kClients = 8, kRequests = 40;
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0}, failed{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client = ClientOf(url);
      for (int r = 0; r < kRequests; ++r) {
        const size_t sample = static_cast<size_t>((c + r) % 8);  // each asks for one sample
        const auto reply = client.Post(
            "/score", json{{"inputs", {expected["inputs"][sample]}}}.dump(), "application/json");
        if (!reply || reply->status != 200) {
          ++failed;
          continue;
        }
        const json got = json::parse(reply->body)["outputs"]["output"][0];
        for (size_t j = 0; j < 4; ++j) {
          if (std::abs(got[j].get<double>() - expected["outputs"][sample][j].get<double>()) > 1e-4)
            ++wrong;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0);
  const json served = json::parse(ClientOf(url).Get("/metadata")->body)["served"];
  EXPECT_EQ(served["requests"], kClients * kRequests);
  EXPECT_LT(served["batches"].get<int>(), kClients * kRequests) << "requests were batched together";
}

// What a user types: curl with its defaults (`-d @file` declares a form), bodies past the
// HTTP library's 8 KiB form limit and up to --max-body-mb scored as JSON.
TEST_F(ModelTest, CurlsDefaultFormBodiesAreScoredAsJson) {
  const std::string run = ExportingRun();
  ASSERT_EQ(Kiln({"model", "register", "mlp", "--run", run}).exit.code, 0);
  const json expected = Expected(run);
  const std::string url = Serve("mlp", {"--max-body-mb", "2"});
  for (const std::size_t size : {100u, 8u * 1024, 1u << 20}) {
    json inputs = json::array();
    while (json{{"inputs", inputs}}.dump().size() < size) {
      inputs.push_back(expected["inputs"][inputs.size() % 8]);
    }
    const std::string body = json{{"inputs", inputs}}.dump();
    const fs::path file = root() / ("req-" + std::to_string(size) + ".json");
    ASSERT_TRUE(WriteFileAtomically(file, body).ok());
    const CurlReply reply = Curl(root(), {"-d", "@" + file.string(), url + "/score"});
    ASSERT_EQ(reply.status, 200) << body.size() << " bytes: " << reply.body.substr(0, 300)
                                 << reply.error;
    const json scored = json::parse(reply.body);
    ASSERT_EQ(scored["argmax"].size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); i += 97) {
      const json& row = expected["outputs"][i % 8];
      EXPECT_EQ(scored["argmax"][i], std::max_element(row.begin(), row.end()) - row.begin()) << i;
    }
  }
  const fs::path big = root() / "big.json";
  ASSERT_TRUE(WriteFileAtomically(big, std::string(3u << 20, ' ')).ok());
  const CurlReply refused = Curl(root(), {"-d", "@" + big.string(), url + "/score"});
  EXPECT_EQ(refused.status, 413);
  EXPECT_EQ(ErrorMessage(refused),
            "the body of 3145728 bytes is larger than the 2097152 bytes this server takes (kiln "
            "serve --max-body-mb sets the limit)");
  EXPECT_EQ(Curl(root(), {url + "/health"}).status, 200) << "still serving";
}

// https with a self-signed certificate and a bearer token from a file, checked by curl.
TEST_F(ModelTest, TlsAndATokenFileGuardScoringButNotHealth) {
  const std::string run = ExportingRun();
  ASSERT_EQ(Kiln({"model", "register", "mlp", "--run", run}).exit.code, 0);
  const fs::path cert = root() / "cert.pem";
  const fs::path key = root() / "key.pem";
  SpawnOptions openssl;
  openssl.argv = {"openssl",  "req",           "-x509",   "-newkey",
                  "rsa:2048", "-nodes",        "-days",   "1",
                  "-subj",    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                  "-keyout",  key.string(),    "-out",    cert.string()};
  const Result<CapturedRun> made = RunAndCapture(openssl, std::chrono::seconds(60));
  ASSERT_TRUE(made.ok() && made->exit.code == 0) << (made.ok() ? made->err : "");
  const std::string secret = "c0ffee0123456789abcdef0123456789";
  const fs::path token = root() / "token";
  ASSERT_TRUE(WriteFileAtomically(token, secret + "\n").ok());
  fs::permissions(token, fs::perms::owner_read | fs::perms::owner_write);

  // Unsafe or unusable token files are refused before anything starts.
  const fs::path open_token = root() / "open-token";
  ASSERT_TRUE(WriteFileAtomically(open_token, secret).ok());
  fs::permissions(open_token, fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
  const CapturedRun readable =
      Kiln({"serve", "mlp", "--port", "0", "--token-file", open_token.string()});
  EXPECT_EQ(readable.exit.code, 2);
  EXPECT_NE(readable.err.find("other users may read it (mode 644); chmod 600"), std::string::npos)
      << readable.err;
  const fs::path short_token = root() / "short-token";
  ASSERT_TRUE(WriteFileAtomically(short_token, "abc").ok());
  fs::permissions(short_token, fs::perms::owner_read);
  const CapturedRun weak =
      Kiln({"serve", "mlp", "--port", "0", "--token-file", short_token.string()});
  EXPECT_EQ(weak.exit.code, 2);
  EXPECT_NE(weak.err.find("at least 16 characters"), std::string::npos) << weak.err;
  const CapturedRun half = Kiln({"serve", "mlp", "--port", "0", "--tls-cert", cert.string()});
  EXPECT_EQ(half.exit.code, 2);
  EXPECT_NE(half.err.find("--tls-cert and --tls-key go together"), std::string::npos) << half.err;

  const std::string url = Serve("mlp", {"--tls-cert", cert.string(), "--tls-key", key.string(),
                                        "--token-file", token.string()});
  ASSERT_TRUE(url.starts_with("https://127.0.0.1:")) << url;
  const auto trusting = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--cacert", cert.string()});
    return Curl(root(), args);
  };
  const fs::path request = root() / "req.json";
  ASSERT_TRUE(WriteFileAtomically(request, json{{"inputs", Expected(run)["inputs"]}}.dump()).ok());

  EXPECT_EQ(trusting({url + "/health"}).status, 200);
  const CurlReply untrusted = Curl(root(), {url + "/health"});
  EXPECT_EQ(untrusted.exit_code, 60) << untrusted.error;  // the certificate is not trusted

  const CurlReply anonymous = trusting({"-d", "@" + request.string(), url + "/score"});
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(ErrorMessage(anonymous).find("needs the header Authorization: Bearer <token>"),
            std::string::npos)
      << anonymous.body;
  EXPECT_NE(anonymous.headers.find("WWW-Authenticate: Bearer"), std::string::npos)
      << anonymous.headers;
  const CurlReply wrong = trusting({"-H", "Authorization: Bearer " + secret + "x", "-d",
                                    "@" + request.string(), url + "/score"});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(ErrorMessage(wrong), "the bearer token is not this server's");
  EXPECT_EQ(trusting({url + "/metadata"}).status, 401);

  const std::string bearer = "Authorization: Bearer " + secret;
  const CurlReply scored = trusting({"-H", bearer, "-d", "@" + request.string(), url + "/score"});
  ASSERT_EQ(scored.status, 200) << scored.body << scored.error;
  EXPECT_EQ(json::parse(scored.body)["argmax"].size(), 8u);
  const CurlReply metadata = trusting({"-H", bearer, url + "/metadata"});
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  EXPECT_EQ(json::parse(metadata.body)["model"]["name"], "mlp");
}

TEST_F(ModelTest, AServerRegistersStoresAndHandsOutModels) {
  StartServer();
  const std::string run = ExportingRun(/*through_server=*/true);
  const CapturedRun registered = Client({"model", "register", "mlp", "--run", run, "--json"});
  ASSERT_EQ(registered.exit.code, 0) << registered.err;
  const json model = json::parse(registered.out);
  EXPECT_EQ(model["version"], 1);
  EXPECT_TRUE(fs::exists(server_home() / "models" / "sha256" / model["sha256"].get<std::string>()));
  const CapturedRun listed = Client({"model", "list", "--json"});
  EXPECT_EQ(json::parse(listed.out)["models"].size(), 1u);
  const fs::path out = root() / "from-server.onnx";
  ASSERT_EQ(Client({"model", "download", "mlp:1", "-o", out.string()}).exit.code, 0);
  EXPECT_EQ(Sha256::HexOf(ReadFileToString(out).value()), model["sha256"]);

  // Served from this machine: the file comes from the server, checked, into the cache.
  {
    ServedModel served(home(), "mlp:1", {}, {"KILN_SERVER=" + url(), "KILN_TOKEN=" + token()});
    ASSERT_FALSE(served.url().empty());
    const json expected =
        json::parse(Http().Get("/v1/runs/" + run + "/artifacts/outputs/expected.json")->body);
    const auto scored =
        ClientOf(served.url())
            .Post("/score", json{{"inputs", expected["inputs"]}}.dump(), "application/json");
    ASSERT_TRUE(scored);
    ASSERT_EQ(scored->status, 200) << scored->body;
    ExpectClose(json::parse(scored->body)["outputs"]["output"], expected["outputs"]);
    EXPECT_TRUE(fs::exists(home() / "models" / "cache" / model["sha256"].get<std::string>()));
  }
  ASSERT_EQ(Client({"model", "remove", "mlp:1"}).exit.code, 0);
  EXPECT_FALSE(
      fs::exists(server_home() / "models" / "sha256" / model["sha256"].get<std::string>()));
  const CapturedRun gone = Client({"model", "show", "mlp"});
  EXPECT_EQ(gone.exit.code, 3) << gone.err;
  EXPECT_NE(gone.err.find("model 'mlp' is not registered"), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace kiln::e2e
