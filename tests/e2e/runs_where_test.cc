// `kiln runs --where` and GET /v1/runs?where= over real runs, on the embedded store and
// through a server; curl with its defaults and a query that is not UTF-8 get a clear 400.

#include <fmt/format.h>

#include "common/strings.h"
#include "e2e/curl.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Logs its --quality as test_accuracy.
constexpr const char* kTrain = R"(import argparse
from kiln import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
Run.get_context().log("test_accuracy", p.parse_args().quality)
)";

class RunsWhereTest : public ServerTest {
 protected:
  std::vector<std::string> Ids(const CapturedRun& listed) {
    EXPECT_EQ(listed.exit.code, 0) << listed.err;
    std::vector<std::string> ids;
    for (const json& run : json::parse(listed.out, nullptr, false)) ids.push_back(run["id"]);
    return ids;
  }
};

TEST_F(RunsWhereTest, TheCliAndTheServerFindRunsByMetricTagAndParam) {
  const fs::path project = Project("p", {{"train.py", kTrain}});
  const auto submit = [&](double quality, const std::string& owner) {
    return SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py", "--tag",
                     "owner=" + owner, "--wait", "--", "--quality", fmt::format("{}", quality)});
  };
  const std::string good = submit(0.95, "ana");
  const std::string poor = submit(0.5, "ana");
  const std::string other = submit(0.97, "ben");
  const std::string query = "metrics.test_accuracy > 0.9 and tags.owner = 'ana'";
  EXPECT_EQ(Ids(Kiln({"runs", "--json", "--where", query})), std::vector<std::string>{good});
  EXPECT_EQ(Ids(Kiln({"runs", "--json", "--where", "params.--quality in ('0.5', '0.97')"})),
            (std::vector<std::string>{other, poor}));
  const CapturedRun refused = Kiln({"runs", "--where", "params.--quality > 0.9"});
  EXPECT_EQ(refused.exit.code, 2);
  EXPECT_NE(refused.err.find("where: at 18 ('>'): params.--quality is text"), std::string::npos)
      << refused.err;

  // The same runs through a server: the CLI's HttpStore, then curl.
  StartServer();
  std::vector<std::string> remote;
  for (const auto& [quality, owner] : {std::pair{"0.95", "ana"}, std::pair{"0.5", "ana"}}) {
    const CapturedRun run =
        Client({"submit", "--source-directory", project.string(), "--entry-script", "train.py",
                "--tag", std::string("owner=") + owner, "--wait", "--", "--quality", quality});
    ASSERT_EQ(run.exit.code, 0) << run.err << ServerLog();
    remote.push_back(FirstLine(run.out));
  }
  EXPECT_EQ(Ids(Client({"runs", "--json", "--where", query})), std::vector<std::string>{remote[0]});
  const CapturedRun remote_refusal = Client({"runs", "--where", "status = "});
  EXPECT_NE(remote_refusal.exit.code, 0);
  EXPECT_NE(remote_refusal.err.find("expected a value"), std::string::npos) << remote_refusal.err;
  const CurlReply found = Curl(root(), {"-G", "-H", "Authorization: Bearer " + token(),
                                        "--data-urlencode", "where=" + query, url() + "/v1/runs"});
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_EQ(json::parse(found.body)["runs"].size(), 1u);
  // Bytes that are not UTF-8: a 400 saying where, with the byte itself kept out.
  for (const auto& [where, words] :
       {std::pair{"tags.caf%E9%20%3D%20%27x%27", "at 9 ('?'): expected an operator"},
        std::pair{"%E9%E9", "at 1 ('?'): expected a field"}}) {
    const CurlReply refused =
        Curl(root(), {"-H", "Authorization: Bearer " + token(), url() + "/v1/runs?where=" + where});
    EXPECT_EQ(refused.status, 400) << refused.body;
    EXPECT_NE(ErrorMessage(refused).find(words), std::string::npos) << refused.body;
  }
}

}  // namespace
}  // namespace kiln::e2e
