// KILN_STORE=postgresql://...: the CLI, the SDK's Run API in the job and the launcher all
// use one PostgreSQL database (a real server, started for the test on 127.0.0.1).

#include "common/files.h"
#include "e2e/kiln_fixture.h"
#include "store/postgres/test_server.h"

namespace kiln::e2e {
namespace {

class PostgresStoreTest : public KilnTest {
 protected:
  // One server for the test binary, stopped when it exits. A server that cannot start fails
  // the test that needs it.
  static Result<std::unique_ptr<store::postgres::PostgresTestServer>>& Server() {
    static Result<std::unique_ptr<store::postgres::PostgresTestServer>> server =
        store::postgres::PostgresTestServer::Start();
    return server;
  }
};

TEST_F(PostgresStoreTest, RunsAndMetricsGoToTheDatabase) {
  auto& server = Server();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const Result<std::string> url = (*server)->CreateDatabase();
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  const std::map<std::string, std::string> env = {{"KILN_STORE", *url}};
  const auto project =
      Project("proj", {{"train.py",
                        "from kiln import Run\nrun = Run.get_context()\n"
                        "for i in range(100):\n    run.log('loss', 1.0 / (i + 1))\n"
                        "run.tag('stage', 'done')\nprint('trained', flush=True)\n"}});
  const CapturedRun submit = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"},
      env);
  ASSERT_EQ(submit.exit.code, 0) << submit.err;
  const std::string id = FirstLine(submit.out);

  const CapturedRun shown = Kiln({"show", id, "--json"}, env);
  const nlohmann::json run = nlohmann::json::parse(shown.out);
  EXPECT_EQ(run["status"], "Completed");
  EXPECT_EQ(run["tags"]["stage"], "done");
  const nlohmann::json metrics =
      nlohmann::json::parse(Kiln({"metrics", id, "--format", "json"}, env).out);
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0]["name"], "loss");
  EXPECT_EQ(metrics[0]["count"], 100);
  EXPECT_NE(Kiln({"logs", id}, env).out.find("trained"), std::string::npos);
  const nlohmann::json plan = nlohmann::json::parse(*ReadFileToString(RunDir(id) / "plan.json"));
  EXPECT_EQ(plan["store"], *url);

  // The embedded store of the same KILN_HOME never saw the run.
  EXPECT_EQ(KilnJson({"runs", "--json"}).size(), 0u);
  EXPECT_EQ(RunProcessCount(id), 0u);
}

TEST_F(PostgresStoreTest, UnreachableServerIsAClearError) {
  const CapturedRun runs =
      Kiln({"runs"}, {{"KILN_STORE", "postgresql://kiln@127.0.0.1:1/none?connect_timeout=2"}});
  EXPECT_EQ(runs.exit.code, 6);
  EXPECT_NE(runs.err.find("cannot connect to the PostgreSQL store postgresql://127.0.0.1:1/none"),
            std::string::npos)
      << runs.err;
}

}  // namespace
}  // namespace kiln::e2e
