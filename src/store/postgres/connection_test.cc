#include "store/postgres/connection.h"

#include <gtest/gtest.h>

#include "store/postgres/postgres_store.h"
#include "store/postgres/test_server.h"

namespace kiln::store::postgres {
namespace {

TEST(PostgresConnectionTest, ParametersAreNumbered) {
  EXPECT_EQ(NumberParameters("SELECT ? , ? FROM t WHERE a = ?"),
            "SELECT $1 , $2 FROM t WHERE a = $3");
  EXPECT_EQ(NumberParameters("SELECT ?1, ?12 WHERE id = ?1"), "SELECT $1, $12 WHERE id = $1");
  EXPECT_EQ(NumberParameters("SELECT '?', ? WHERE x = 'it''s ?'"),
            "SELECT '?', $1 WHERE x = 'it''s ?'");
}

TEST(PostgresConnectionTest, UnreachableServerIsUnavailable) {
  const auto connection = Connection::Open("postgresql://kiln@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(connection.ok());
  EXPECT_EQ(connection.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(connection.status().message().find("cannot connect to the PostgreSQL store"),
            std::string::npos)
      << connection.status().message();
}

// The PostgreSQL server restarts under an open store: the next call connects again.
TEST(PostgresConnectionTest, StoreReconnectsAfterTheServerRestarts) {
  auto server = PostgresTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const Result<std::string> url = (*server)->CreateDatabase();
  ASSERT_TRUE(url.ok());
  auto store = PostgresStore::Open(*url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store::Run run;
  run.id = "r1";
  run.experiment = "e";
  run.spec_json = "{}";
  ASSERT_TRUE((*store)->CreateRun(run).ok());

  ASSERT_TRUE((*server)->Restart().ok());
  const Result<store::Run> read = (*store)->GetRun("r1");
  ASSERT_TRUE(read.ok()) << "status: " << read.status().ToString();
  EXPECT_EQ(read->status, RunStatus::kQueued);

  ASSERT_TRUE((*server)->Restart().ok());
  Transition preparing;
  preparing.to = RunStatus::kPreparing;
  const Result<store::Run> moved = (*store)->TransitionRun("r1", preparing);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ((*store)->GetStatusHistory("r1")->size(), 2u);
}

}  // namespace
}  // namespace kiln::store::postgres
