// PostgreSQL restarted while a run's launcher ingests its metrics: the launcher retries, the
// run completes, and every point is stored exactly once (the spool offset is stored in the
// same transaction as the points, so a retried batch is never stored twice).

#include <thread>

#include "faults/fault_fixture.h"
#include "store/postgres/test_server.h"

namespace kiln::faults {
namespace {

class PostgresFaultTest : public FaultTest {};

TEST_F(PostgresFaultTest, RestartDuringMetricIngest) {
  auto postgres = store::postgres::PostgresTestServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
  const auto url = (*postgres)->CreateDatabase();
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  const KilnCall kiln = [&](const std::vector<std::string>& args) {
    return Kiln(args, {{"KILN_STORE", *url}});
  };
  const auto project = LoggingProject("proj", 20000, 1000, 0.15, 0);
  const std::string id =
      Submit(kiln, {"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil(kiln, id, {"Running"}));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Status restarted = (*postgres)->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  Settle("PostgreSQL restart during metric ingest", kiln, id, home() / "runs",
         {"Completed", "", "step"});
}

}  // namespace
}  // namespace kiln::faults
