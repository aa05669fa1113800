#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "common/test_dir.h"
#include "store/sqlite/schema.h"

namespace kiln::store::sqlite {
namespace {

Run MakeRun(const std::string& id) {
  Run run;
  run.id = id;
  run.experiment = "exp";
  run.spec_json = "{}";
  run.run_dir = "/runs/" + id;
  run.params = {{"--i", id, id}};
  return run;
}

TEST(SqliteStoreTest, FreshFileHasTheLatestSchema) {
  TestDir dir;
  ASSERT_TRUE(SqliteStore::Open(dir.path() / "kiln.db").ok());
  auto db = Database::Open(dir.path() / "kiln.db", 1000);
  ASSERT_TRUE(db.ok());
  auto query = db->Prepare("SELECT MAX(version) FROM schema_migrations");
  ASSERT_TRUE(query.ok());
  ASSERT_TRUE(*query->Step());
  EXPECT_EQ(query->ColumnInt(0), LatestSchemaVersion());
  // Opening again applies nothing twice.
  ASSERT_TRUE(SqliteStore::Open(dir.path() / "kiln.db").ok());
  auto count = db->Prepare("SELECT COUNT(*) FROM schema_migrations");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*count->Step());
  EXPECT_EQ(count->ColumnInt(0), LatestSchemaVersion());
}

TEST(SqliteStoreTest, NewerSchemaIsRefused) {
  TestDir dir;
  ASSERT_TRUE(SqliteStore::Open(dir.path() / "kiln.db").ok());
  {
    auto db = Database::Open(dir.path() / "kiln.db", 1000);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)").ok());
  }
  const auto store = SqliteStore::Open(dir.path() / "kiln.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("newer than this Kiln"), std::string::npos);
}

TEST(SqliteStoreTest, NotADatabaseIsDataLoss) {
  TestDir dir;
  FILE* file = std::fopen((dir.path() / "kiln.db").c_str(), "w");
  std::fputs("this is not sqlite, but it is long enough to have a header of sorts......", file);
  std::fclose(file);
  const auto store = SqliteStore::Open(dir.path() / "kiln.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss);
}

TEST(SqliteStoreTest, FakeClockTimesTheHistory) {
  TestDir dir;
  FakeClock clock(1'000'000);
  auto store = SqliteStore::Open(dir.path() / "kiln.db", clock);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->CreateRun(MakeRun("r")).ok());
  clock.Advance(std::chrono::seconds(5));
  Transition preparing;
  preparing.to = RunStatus::kPreparing;
  ASSERT_TRUE((*store)->TransitionRun("r", preparing).ok());
  const auto history = (*store)->GetStatusHistory("r");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ((*history)[0].at, 1'000'000);
  EXPECT_EQ((*history)[1].at, 6'000'000);
}

// Several processes writing one file at once: every run and every transition lands once,
// and the file stays intact.
TEST(SqliteStoreTest, ConcurrentProcessesLoseNothing) {
  TestDir dir;
  const auto path = dir.path() / "kiln.db";
  constexpr int kProcesses = 6;
  constexpr int kRunsEach = 25;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = SqliteStore::Open(path);
      if (!store.ok()) ::_exit(10);
      for (int i = 0; i < kRunsEach; ++i) {
        const std::string id = "p" + std::to_string(p) + "-" + std::to_string(i);
        if (!(*store)->CreateRun(MakeRun(id)).ok()) ::_exit(11);
        Transition t;
        t.to = RunStatus::kPreparing;
        if (!(*store)->TransitionRun(id, t).ok()) ::_exit(12);
        if (!(*store)->ListRuns({}).ok()) ::_exit(13);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child failed with " << WEXITSTATUS(status);
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok());
  const auto runs = (*store)->ListRuns({});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), static_cast<std::size_t>(kProcesses * kRunsEach));
  std::set<std::string> ids;
  for (const store::Run& run : *runs) {
    ids.insert(run.id);
    EXPECT_EQ(run.status, RunStatus::kPreparing);
    ASSERT_EQ(run.params.size(), 1u);
    EXPECT_EQ(run.params[0].value, run.id);
  }
  EXPECT_EQ(ids.size(), runs->size());
  auto db = Database::Open(path, 1000);
  ASSERT_TRUE(db.ok());
  auto check = db->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok());
  ASSERT_TRUE(*check->Step());
  EXPECT_EQ(check->ColumnText(0), "ok");
}

// A finishing launcher and a cancelling user race on one run: exactly one wins, and the
// history never shows both.
TEST(SqliteStoreTest, RacingTransitionsHaveOneWinner) {
  TestDir dir;
  const auto path = dir.path() / "kiln.db";
  constexpr int kRuns = 30;
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < kRuns; ++i) {
      const std::string id = "r" + std::to_string(i);
      ASSERT_TRUE((*store)->CreateRun(MakeRun(id)).ok());
      for (RunStatus s : {RunStatus::kPreparing, RunStatus::kRunning}) {
        Transition t;
        t.to = s;
        ASSERT_TRUE((*store)->TransitionRun(id, t).ok());
      }
    }
  }
  std::vector<pid_t> children;
  for (RunStatus target : {RunStatus::kFinalizing, RunStatus::kCancelRequested}) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = SqliteStore::Open(path);
      if (!store.ok()) ::_exit(10);
      for (int i = 0; i < kRuns; ++i) {
        Transition t;
        t.to = target;
        const auto result = (*store)->TransitionRun("r" + std::to_string(i), t);
        if (!result.ok() && result.status().code() != StatusCode::kFailedPrecondition) {
          ::_exit(11);
        }
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < kRuns; ++i) {
    const auto history = (*store)->GetStatusHistory("r" + std::to_string(i));
    ASSERT_TRUE(history.ok());
    ASSERT_EQ(history->size(), 4u);
    const RunStatus last = history->back().status;
    EXPECT_TRUE(last == RunStatus::kFinalizing || last == RunStatus::kCancelRequested);
  }
}

}  // namespace
}  // namespace kiln::store::sqlite
