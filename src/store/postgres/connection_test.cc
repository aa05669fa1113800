#include "store/postgres/connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

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

// A real server, a database on it, and a store holding one run, r1.
class PostgresLiveStoreTest : public ::testing::Test {
 protected:
  // With `statement_timeout_ms`, the store is opened with that KILN_PG_STATEMENT_TIMEOUT_MS.
  void OpenStoreWithRun(const char* statement_timeout_ms = nullptr) {
    auto server = PostgresTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    Result<std::string> url = server_->CreateDatabase();
    ASSERT_TRUE(url.ok());
    url_ = *url;
    if (statement_timeout_ms != nullptr) {
      ::setenv("KILN_PG_STATEMENT_TIMEOUT_MS", statement_timeout_ms, 1);
    }
    auto store = PostgresStore::Open(url_);
    ::unsetenv("KILN_PG_STATEMENT_TIMEOUT_MS");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    store::Run run;
    run.id = "r1";
    run.experiment = "e";
    run.spec_json = "{}";
    ASSERT_TRUE(store_->CreateRun(run).ok());
  }

  std::unique_ptr<PostgresTestServer> server_;
  std::string url_;
  std::unique_ptr<sql::SqlStore> store_;
};

// The PostgreSQL server restarts under an open store: the next call connects again.
TEST_F(PostgresLiveStoreTest, StoreReconnectsAfterTheServerRestarts) {
  ASSERT_NO_FATAL_FAILURE(OpenStoreWithRun());

  ASSERT_TRUE(server_->Restart().ok());
  const Result<store::Run> read = store_->GetRun("r1");
  ASSERT_TRUE(read.ok()) << "status: " << read.status().ToString();
  EXPECT_EQ(read->status, RunStatus::kQueued);

  ASSERT_TRUE(server_->Restart().ok());
  Transition preparing;
  preparing.to = RunStatus::kPreparing;
  const Result<store::Run> moved = store_->TransitionRun("r1", preparing);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(store_->GetStatusHistory("r1")->size(), 2u);
}

// Another session holds a lock on the runs table: reads and writes of the store fail with
// DeadlineExceeded once KILN_PG_STATEMENT_TIMEOUT_MS has passed, instead of waiting for it
// for ever (holding a connection of the pool all the while), and work again once the lock
// is gone.
TEST_F(PostgresLiveStoreTest, StatementBlockedByALockIsDeadlineExceeded) {
  ASSERT_NO_FATAL_FAILURE(OpenStoreWithRun("500"));

  auto locker = Connection::Open(url_);
  ASSERT_TRUE(locker.ok()) << locker.status().ToString();
  ASSERT_TRUE((*locker)->Execute("BEGIN").ok());
  ASSERT_TRUE((*locker)->Execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE").ok());

  const Result<store::Run> read = store_->GetRun("r1");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kDeadlineExceeded) << read.status().ToString();
  EXPECT_NE(read.status().message().find("statement_timeout, KILN_PG_STATEMENT_TIMEOUT_MS"),
            std::string::npos)
      << read.status().message();
  Transition preparing;
  preparing.to = RunStatus::kPreparing;
  const Result<store::Run> moved = store_->TransitionRun("r1", preparing);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), StatusCode::kDeadlineExceeded) << moved.status().ToString();

  ASSERT_TRUE((*locker)->Execute("ROLLBACK").ok());
  const Result<store::Run> again = store_->GetRun("r1");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, RunStatus::kQueued);
  ASSERT_TRUE(store_->TransitionRun("r1", preparing).ok());
}

// A call stuck behind another session's lock holds its own connection only: the store's
// other calls, from other threads (a server's other requests), run meanwhile.
TEST_F(PostgresLiveStoreTest, CallStuckBehindALockHoldsUpNoOtherCall) {
  ASSERT_NO_FATAL_FAILURE(OpenStoreWithRun());

  auto locker = Connection::Open(url_);
  ASSERT_TRUE(locker.ok()) << locker.status().ToString();
  ASSERT_TRUE((*locker)->Execute("BEGIN").ok());
  ASSERT_TRUE((*locker)->Execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE").ok());

  std::atomic<bool> stuck_returned = false;
  Result<store::Run> stuck = NotFoundError("not read yet");
  std::thread reader([&] {
    stuck = store_->GetRun("r1");
    stuck_returned = true;
  });
  // The reader waits for the lock, which is held until the ROLLBACK below, while these
  // calls each take a connection of their own.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 3; ++i) {
    const Result<std::vector<Datastore>> datastores = store_->ListDatastores();
    ASSERT_TRUE(datastores.ok()) << datastores.status().ToString();
    const Result<std::vector<ApiToken>> tokens = store_->ListApiTokens(true);
    ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  }
  EXPECT_FALSE(stuck_returned) << "the lock was held; the reader should still wait for it";

  ASSERT_TRUE((*locker)->Execute("ROLLBACK").ok());
  reader.join();
  ASSERT_TRUE(stuck.ok()) << stuck.status().ToString();
  EXPECT_EQ(stuck->id, "r1");
}

// A setting that is not a number is refused before any connection, naming the variable.
TEST(PostgresConnectionTest, BadTimeoutSettingIsInvalidArgument) {
  ::setenv("KILN_PG_CONNECT_TIMEOUT_SECONDS", "soon", 1);
  const auto connection = Connection::Open("postgresql://kiln@127.0.0.1:1/none");
  ::unsetenv("KILN_PG_CONNECT_TIMEOUT_SECONDS");
  ASSERT_FALSE(connection.ok());
  EXPECT_EQ(connection.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(connection.status().message(),
            "KILN_PG_CONNECT_TIMEOUT_SECONDS: must be an integer >= 1, got 'soon'");
}

}  // namespace
}  // namespace kiln::store::postgres
