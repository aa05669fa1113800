// `kiln serve` on models of several named inputs, end to end: a real run exports a small
// transformer over token ids and a padding mask (two outputs, an open sequence length), the
// real kiln binary registers and serves it, and curl (with its defaults) and raw clients
// score it; every output is compared with PyTorch's.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "e2e/curl.h"
#include "e2e/kiln_fixture.h"
#include "e2e/served_model.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Exports the tagger and writes PyTorch's outputs for two requests of other lengths (six
// tokens, the second sample padded after four; and four tokens) to outputs/expected.json.
constexpr const char* kTaggerScript = R"py(
import json, os, torch, torch.nn as nn, kiln.onnx
torch.manual_seed(0)

class Tagger(nn.Module):
    def __init__(self, vocab=50, width=16, heads=2):
        super().__init__()
        self.heads = heads
        self.words = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(32, width)
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.norm2 = nn.LayerNorm(width)
        self.pooler = nn.Linear(width, 8)
        self.tags = nn.Linear(width, 5)

    def forward(self, ids, mask):
        b, s = ids.shape
        x = self.norm(self.words(ids) + self.positions(torch.arange(s).unsqueeze(0)))
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        d = x.shape[-1] // self.heads
        q, k, v = (t.view(b, s, self.heads, d).transpose(1, 2)
                   for t in self.qkv(x).split(x.shape[-1], -1))
        attention = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5 + bias, -1)
        x = x + self.out((attention @ v).transpose(1, 2).reshape(b, s, -1))
        x = self.norm2(x + self.ff(x))
        return torch.tanh(self.pooler(x[:, 0])), self.tags(x)

model = Tagger().eval()
ids = torch.randint(0, 50, (2, 6))
mask = torch.ones(2, 6, dtype=torch.int64)
mask[1, 4:] = 0
os.makedirs("outputs", exist_ok=True)
report = kiln.onnx.export(model, (ids, mask), "outputs/model.onnx", input_names=["ids", "mask"],
                          output_names=["pooled", "tags"],
                          dynamic_axes={"ids": {1: "sequence"}, "mask": {1: "sequence"},
                                        "tags": {1: "sequence"}})
assert report.passed, report
expected = {}
for name, (i, m) in {"six": (ids, mask), "four": (ids[:1, :4], mask[:1, :4])}.items():
    with torch.no_grad():
        pooled, tags = model(i, m)
    expected[name] = {"ids": i.tolist(), "mask": m.tolist(),
                      "pooled": pooled.tolist(), "tags": tags.tolist()}
json.dump(expected, open("outputs/expected.json", "w"))
)py";

class ServeInputsTest : public KilnTest {
 protected:
  // Trains nothing: exports the tagger in a run and registers it as "tagger".
  void SetUp() override {
    const fs::path project = Project("tagger", {{"train.py", kTaggerScript}});
    const std::string run =
        SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
    ASSERT_TRUE(WaitForStatus(run, "Completed", std::chrono::seconds(180)))
        << Kiln({"logs", run}).out;
    ASSERT_EQ(Kiln({"model", "register", "tagger", "--run", run}).exit.code, 0);
    expected_ = json::parse(ReadFileToString(RunDir(run) / "outputs" / "expected.json").value());
  }

  json expected_;
};

// Flattens nested numbers.
void Flatten(const json& value, std::vector<double>& out) {
  if (value.is_array()) {
    for (const json& v : value) Flatten(v, out);
  } else {
    out.push_back(value.get<double>());
  }
}

void ExpectClose(const std::vector<double>& got, const json& expected, const std::string& what) {
  std::vector<double> want;
  Flatten(expected, want);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << what << " " << i;
}

void ExpectNested(const json& got, const json& expected, const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what << ": the outer dimension";
  std::vector<double> values;
  Flatten(got, values);
  ExpectClose(values, expected, what);
}

TEST_F(ServeInputsTest, EveryInputByNameInJsonAndRawAndEveryOutputBack) {
  ServedModel served(home(), "tagger", {"--threads", "1"});
  ASSERT_FALSE(served.url().empty());
  httplib::Client client(served.url());
  client.set_read_timeout(30, 0);

  const json metadata = json::parse(client.Get("/metadata")->body);
  EXPECT_EQ(metadata["inputs"], json::parse(R"([
      {"name": "ids", "shape": [null, null], "type": "int64"},
      {"name": "mask", "shape": [null, null], "type": "int64"}])"));
  EXPECT_EQ(metadata["outputs"][0]["name"], "pooled");
  EXPECT_EQ(metadata["outputs"][1]["name"], "tags");

  // JSON with curl's defaults (a form content type), every input by name.
  for (const char* request : {"six", "four"}) {
    const json& want = expected_[request];
    const fs::path body = root() / fmt::format("{}.json", request);
    ASSERT_TRUE(WriteFileAtomically(
                    body, json{{"inputs", {{"ids", want["ids"]}, {"mask", want["mask"]}}}}.dump())
                    .ok());
    const CurlReply reply = Curl(root(), {"-d", "@" + body.string(), served.url() + "/score"});
    ASSERT_EQ(reply.status, 200) << reply.body;
    const json scored = json::parse(reply.body);
    ExpectNested(scored["outputs"]["pooled"], want["pooled"], request);
    ExpectNested(scored["outputs"]["tags"], want["tags"], request);
    // The first output is [batch, 8], so each sample's argmax comes too.
    EXPECT_EQ(scored["argmax"].size(), want["ids"].size());
  }

  // Raw: the inputs as int64 in the header's order, every output back as float32.
  const json& six = expected_["six"];
  std::vector<std::int64_t> ids, mask;
  for (const json& row : six["mask"])
    for (const json& v : row) mask.push_back(v.get<std::int64_t>());
  for (const json& row : six["ids"])
    for (const json& v : row) ids.push_back(v.get<std::int64_t>());
  std::string raw(reinterpret_cast<const char*>(mask.data()), mask.size() * 8);
  raw.append(reinterpret_cast<const char*>(ids.data()), ids.size() * 8);
  const auto scored = client.Post("/score",
                                  httplib::Headers{{"X-Kiln-Inputs", "mask=2,6; ids=2,6"},
                                                   {"Accept", "application/octet-stream"}},
                                  raw, "application/octet-stream");
  ASSERT_TRUE(scored);
  ASSERT_EQ(scored->status, 200) << scored->body;
  EXPECT_EQ(scored->get_header_value("X-Kiln-Outputs"), "pooled=2,8; tags=2,6,5");
  ASSERT_EQ(scored->body.size(), (2 * 8 + 2 * 6 * 5) * sizeof(float));
  std::vector<float> values(scored->body.size() / sizeof(float));
  std::memcpy(values.data(), scored->body.data(), scored->body.size());
  ExpectClose({values.begin(), values.begin() + 16}, six["pooled"], "raw pooled");
  ExpectClose({values.begin() + 16, values.end()}, six["tags"], "raw tags");
}

TEST_F(ServeInputsTest, BadInputsAreRefusedByNameAndTheServerGoesOn) {
  ServedModel served(home(), "tagger", {"--threads", "1"});
  ASSERT_FALSE(served.url().empty());
  httplib::Client client(served.url());
  const auto refused = [&](const std::string& body) {
    const auto reply = client.Post("/score", body, "application/json");
    EXPECT_EQ(reply->status, 400) << body;
    return json::parse(reply->body)["error"]["message"].get<std::string>();
  };
  EXPECT_EQ(refused(R"({"inputs": {"ids": [[1, 2, 3]]}})"),
            "inputs: no 'mask'; the model takes ids (int64, [?,?]), mask (int64, [?,?])");
  EXPECT_EQ(refused(R"({"inputs": {"ids": [[1, 2.5, 3]], "mask": [[1, 1, 1]]}})"),
            "inputs.ids[0][1]: 2.5 is not an int64 (the type of input 'ids')");
  EXPECT_EQ(refused(R"({"inputs": {"ids": [[1, 2, 3]], "mask": [[1, 1]]}})"),
            "input 'ids' has shape [1, 3], and input 'mask' [1, 2]: the model gives both a "
            "'sequence' dimension, so it must be the same size in both");
  EXPECT_EQ(refused(R"({"inputs": {"ids": [[1, 2, 99]], "mask": [[1, 1, 1]]}})"),
            "node '/words/Gather' (Gather): index 99 is outside the table's 50 rows");
  EXPECT_EQ(refused(R"({"inputs": [[1, 2, 3]]})").substr(0, 31), "inputs: the model takes 2 input");
  // Bytes that are not UTF-8 in a name.
  EXPECT_NE(refused("{\"inputs\": {\"\xff\xfe\": [[1]]}}").find("the body is not JSON"),
            std::string::npos);

  const json& four = expected_["four"];
  const auto fine =
      client.Post("/score", json{{"inputs", {{"ids", four["ids"]}, {"mask", four["mask"]}}}}.dump(),
                  "application/json");
  ASSERT_EQ(fine->status, 200) << fine->body;
}

// Two models kiln serve cannot join requests for: a sequence-first LSTM (its open first
// dimension is "seq") and one whose second input has no batch dimension.
constexpr const char* kUnbatchedScript = R"py(
import os, torch, torch.nn as nn
os.makedirs("outputs", exist_ok=True)
torch.onnx.export(nn.LSTM(6, 8).eval(), (torch.randn(9, 2, 6),), "outputs/seq.onnx",
                  input_names=["x"], output_names=["y", "h", "c"], opset_version=13,
                  dynamic_axes={"x": {0: "seq", 1: "batch"}, "y": {0: "seq", 1: "batch"}})
class Scaled(nn.Module):
    def forward(self, x, w):
        return x * w
torch.onnx.export(Scaled(), (torch.randn(2, 4), torch.randn(4)), "outputs/shared.onnx",
                  input_names=["x", "w"], dynamic_axes={"x": {0: "batch"}})
)py";

TEST_F(ServeInputsTest, ModelsWithoutTheBatchFirstInEveryInputAreRefusedAtStart) {
  const fs::path project = Project("unbatched", {{"train.py", kUnbatchedScript}});
  const std::string run =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(run, "Completed", std::chrono::seconds(120)))
      << Kiln({"logs", run}).out;
  ASSERT_EQ(
      Kiln({"model", "register", "seq", "--run", run, "--path", "outputs/seq.onnx"}).exit.code, 0);
  ASSERT_EQ(Kiln({"model", "register", "shared", "--run", run, "--path", "outputs/shared.onnx"})
                .exit.code,
            0);
  const CapturedRun seq = Kiln({"serve", "seq", "--port", "0"});
  EXPECT_EQ(seq.exit.code, 2);
  EXPECT_NE(seq.err.find("seq:1: input 'x' leaves its first dimension open as 'seq'; kiln serve "
                         "joins requests along it"),
            std::string::npos)
      << seq.err;
  const CapturedRun shared = Kiln({"serve", "shared", "--port", "0"});
  EXPECT_EQ(shared.exit.code, 2);
  EXPECT_NE(shared.err.find("shared:1: input 'x' is [?, 4] and input 'w' [4]; kiln serve takes "
                            "models whose inputs all have the batch first"),
            std::string::npos)
      << shared.err;
}

}  // namespace
}  // namespace kiln::e2e
