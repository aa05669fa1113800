// Secrets stay out of jobs: whatever credentials the submitting side holds (a store URL
// with a password, API tokens, PostgreSQL's variables), no rank sees them, plan.json holds
// none, and the run directory is its owner's alone (docs/run-directory.md).

#include <fmt/format.h>
#include <sys/stat.h>

#include "common/files.h"
#include "e2e/kiln_fixture.h"
#include "store/postgres/test_server.h"

namespace kiln::e2e {
namespace {

class SecretsTest : public KilnTest {
 protected:
  static Result<std::unique_ptr<store::postgres::PostgresTestServer>>& Server() {
    static Result<std::unique_ptr<store::postgres::PostgresTestServer>> server =
        store::postgres::PostgresTestServer::Start();
    return server;
  }
};

TEST_F(SecretsTest, NoCredentialReachesARankOrPlanJson) {
  auto& server = Server();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const Result<std::string> plain_url = (*server)->CreateDatabase();
  ASSERT_TRUE(plain_url.ok()) << plain_url.status().ToString();
  // The test server trusts local connections, so a password in the URL is accepted (and
  // must still go nowhere but the launcher).
  std::string url = *plain_url;
  url.insert(url.find('@'), ":url-pw-secret");
  const std::map<std::string, std::string> env = {
      {"KILN_STORE", url},
      {"KILN_TOKEN", "kiln_tok_token-secret"},
      {"PGPASSWORD", "pg-password-secret"},
      {"PGUSER", "kiln"},
      {"AWS_SECRET_ACCESS_KEY", "aws-secret"},
  };
  const auto project = Project(
      "proj", {{"train.py",
                "import os\nfrom kiln import Run\nRun.get_context().log('reached', 1.0)\n"
                "for name in sorted(os.environ):\n    print(name + '=' + os.environ[name])\n"}});
  const CapturedRun submit = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"},
      env);
  ASSERT_EQ(submit.exit.code, 0) << submit.out << submit.err;
  const std::string id = FirstLine(submit.out);

  // The launcher reached the store through the URL with its password: the run is there,
  // with its metric.
  const nlohmann::json run = nlohmann::json::parse(Kiln({"show", id, "--json"}, env).out);
  EXPECT_EQ(run["status"], "Completed");
  const nlohmann::json metrics =
      nlohmann::json::parse(Kiln({"metrics", id, "--format", "json"}, env).out);
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0]["count"], 1);

  // What the rank saw.
  const std::string seen = Kiln({"logs", id}, env).out;
  EXPECT_NE(seen.find("\nPATH="), std::string::npos) << seen;
  EXPECT_NE(seen.find("KILN_RUN_ID=" + id + "\n"), std::string::npos) << seen;
  for (const char* secret : {"url-pw-secret", "token-secret", "pg-password-secret", "aws-secret"}) {
    EXPECT_EQ(seen.find(secret), std::string::npos) << secret << " reached the rank:\n" << seen;
  }
  for (const char* name : {"KILN_STORE=", "KILN_TOKEN=", "KILN_RUN_STORE=", "KILN_RUN_TOKEN=",
                           "PGPASSWORD=", "PGUSER=", "AWS_SECRET_ACCESS_KEY="}) {
    EXPECT_EQ(seen.find(std::string("\n") + name), std::string::npos)
        << name << " reached the rank:\n"
        << seen;
  }

  // plan.json: no credential, mode 0600; the run directory 0700.
  const std::filesystem::path dir = RunDir(id);
  const std::string plan = *ReadFileToString(dir / "plan.json");
  for (const char* secret : {"url-pw-secret", "token-secret", "pg-password-secret", "aws-secret"}) {
    EXPECT_EQ(plan.find(secret), std::string::npos) << secret << " is in plan.json:\n" << plan;
  }
  std::string redacted = *plain_url;
  redacted.insert(redacted.find('@'), ":***");
  EXPECT_EQ(nlohmann::json::parse(plan)["store"], redacted);
  struct stat info {};
  ASSERT_EQ(::stat((dir / "plan.json").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace kiln::e2e
