// The Store parity suite: the same tests against every backend. A new backend joins by
// adding its factory to kBackends.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/test_dir.h"
#include "store/postgres/connection.h"
#include "store/postgres/postgres_store.h"
#include "store/postgres/schema.h"
#include "store/postgres/test_server.h"
#include "store/sqlite/database.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace kiln::store {
namespace {

// gtest fixtures have a member named Run; the record gets another name here.
using RunRecord = Run;

struct Backend {
  std::string name;
  std::function<Result<std::unique_ptr<Store>>(const TestDir&)> open;
  // Makes the test's store as the Kiln of schema `version` left it, then runs `sql` on it.
  std::function<Status(const TestDir&, int version, const std::string& sql)> at_version;
};

// One server for the whole test binary, a database for each test (each TestDir).
Result<std::string> PostgresUrlFor(const TestDir& dir) {
  static Result<std::unique_ptr<postgres::PostgresTestServer>> server =
      postgres::PostgresTestServer::Start();
  static std::mutex mu;
  static std::map<std::string, std::string> databases;
  if (!server.ok()) return server.status();
  std::lock_guard lock(mu);
  std::string& known = databases[dir.path().string()];
  if (known.empty()) {
    KILN_ASSIGN_OR_RETURN(known, (*server)->CreateDatabase());
  }
  return known;
}

const Backend kBackends[] = {
    {"sqlite",
     [](const TestDir& dir) -> Result<std::unique_ptr<Store>> {
       KILN_ASSIGN_OR_RETURN(auto store, sqlite::SqliteStore::Open(dir.path() / "kiln.db"));
       return std::unique_ptr<Store>(std::move(store));
     },
     [](const TestDir& dir, int version, const std::string& sql) -> Status {
       KILN_ASSIGN_OR_RETURN(sqlite::Database db,
                             sqlite::Database::Open(dir.path() / "kiln.db", 1000));
       KILN_RETURN_IF_ERROR(sqlite::MigrateTo(db, version));
       return db.Execute(sql);
     }},
    {"postgres",
     [](const TestDir& dir) -> Result<std::unique_ptr<Store>> {
       KILN_ASSIGN_OR_RETURN(const std::string url, PostgresUrlFor(dir));
       KILN_ASSIGN_OR_RETURN(auto store, postgres::PostgresStore::Open(url));
       return std::unique_ptr<Store>(std::move(store));
     },
     [](const TestDir& dir, int version, const std::string& sql) -> Status {
       KILN_ASSIGN_OR_RETURN(const std::string url, PostgresUrlFor(dir));
       KILN_ASSIGN_OR_RETURN(auto db, postgres::Connection::Open(url));
       KILN_RETURN_IF_ERROR(postgres::MigrateTo(*db, version));
       return db->Execute(sql);
     }},
};

class StoreParityTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto store = GetParam().open(dir_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  static RunRecord NewRun(const std::string& id, const std::string& experiment = "exp") {
    RunRecord run;
    run.id = id;
    run.experiment = experiment;
    run.display_name = "name of " + id;
    run.spec_json = R"({"entry_script":"train.py"})";
    run.snapshot_id = std::string(64, 'a');
    run.compute_target = "local";
    run.run_dir = "/runs/" + id;
    run.host = "host1";
    run.params = {{"--data_dir", "{datastore:fm}", "/data/fm"}, {"--verbose", {}, {}}};
    run.tags = {{"owner", "ana"}, {"lr", "0.1"}};
    return run;
  }

  static RunRecord TrialRun(const std::string& id, const std::string& sweep) {
    RunRecord run = NewRun(id);
    run.parent_id = sweep;
    return run;
  }

  Result<RunRecord> Move(const std::string& id, RunStatus to, std::string detail = "") {
    Transition transition;
    transition.to = to;
    transition.detail = std::move(detail);
    return store_->TransitionRun(id, transition);
  }

  TestDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreParityTest, CreateThenGetKeepsEveryField) {
  const Result<RunRecord> created = store_->CreateRun(NewRun("r1"));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->status, RunStatus::kQueued);
  EXPECT_GT(created->created_at, 0);
  const Result<RunRecord> run = store_->GetRun("r1");
  ASSERT_TRUE(run.ok());
  const RunRecord expected = NewRun("r1");
  EXPECT_EQ(run->experiment, "exp");
  EXPECT_EQ(run->display_name, expected.display_name);
  EXPECT_EQ(run->spec_json, expected.spec_json);
  EXPECT_EQ(run->snapshot_id, expected.snapshot_id);
  EXPECT_EQ(run->compute_target, "local");
  EXPECT_EQ(run->run_dir, "/runs/r1");
  EXPECT_EQ(run->host, "host1");
  EXPECT_EQ(run->params, expected.params);
  EXPECT_EQ(run->tags, expected.tags);
  EXPECT_FALSE(run->started_at.has_value());
  EXPECT_FALSE(run->exit_code.has_value());
}

TEST_P(StoreParityTest, DuplicateRunIsAlreadyExists) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  const Result<RunRecord> again = store_->CreateRun(NewRun("r1"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
}

TEST_P(StoreParityTest, UnknownRunIsNotFound) {
  EXPECT_EQ(store_->GetRun("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetStatusHistory("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Move("nope", RunStatus::kPreparing).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreParityTest, LifecycleIsRecordedWithTimes) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  ASSERT_TRUE(Move("r1", RunStatus::kPreparing).ok());
  const Result<RunRecord> running = Move("r1", RunStatus::kRunning, "rank 0 started");
  ASSERT_TRUE(running.ok());
  EXPECT_TRUE(running->started_at.has_value());
  ASSERT_TRUE(Move("r1", RunStatus::kFinalizing).ok());
  Transition done;
  done.to = RunStatus::kCompleted;
  done.exit_code = 0;
  const Result<RunRecord> completed = store_->TransitionRun("r1", done);
  ASSERT_TRUE(completed.ok());
  EXPECT_EQ(completed->status, RunStatus::kCompleted);
  EXPECT_EQ(completed->exit_code, 0);
  ASSERT_TRUE(completed->ended_at.has_value());
  EXPECT_GE(*completed->ended_at, *completed->started_at);

  const Result<std::vector<StatusChange>> history = store_->GetStatusHistory("r1");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 5u);
  EXPECT_EQ((*history)[0].status, RunStatus::kQueued);
  EXPECT_EQ((*history)[2].status, RunStatus::kRunning);
  EXPECT_EQ((*history)[2].detail, "rank 0 started");
  EXPECT_EQ((*history)[4].status, RunStatus::kCompleted);
  for (std::size_t i = 1; i < history->size(); ++i) {
    EXPECT_GE((*history)[i].at, (*history)[i - 1].at);
  }
}

TEST_P(StoreParityTest, FailureKeepsReasonAndLogTail) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  ASSERT_TRUE(Move("r1", RunStatus::kPreparing).ok());
  ASSERT_TRUE(Move("r1", RunStatus::kRunning).ok());
  Transition failed;
  failed.to = RunStatus::kFailed;
  failed.exit_code = 3;
  failed.failure_reason = "rank 0 exited with code 3";
  failed.failure_log_tail = {"Traceback (most recent call last):", "ValueError: bad"};
  ASSERT_TRUE(store_->TransitionRun("r1", failed).ok());
  const Result<RunRecord> run = store_->GetRun("r1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_EQ(run->failure_reason, "rank 0 exited with code 3");
  EXPECT_EQ(run->failure_log_tail, failed.failure_log_tail);
}

TEST_P(StoreParityTest, ForbiddenTransitionNamesTheCurrentStatus) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  const Result<RunRecord> skip = Move("r1", RunStatus::kRunning);
  ASSERT_FALSE(skip.ok());
  EXPECT_EQ(skip.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(skip.status().message(), "run r1 is Queued; it cannot become Running");
  ASSERT_TRUE(Move("r1", RunStatus::kCanceled).ok());
  EXPECT_EQ(Move("r1", RunStatus::kFailed).status().code(), StatusCode::kFailedPrecondition);
  const Result<std::vector<StatusChange>> history = store_->GetStatusHistory("r1");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u);
}

TEST_P(StoreParityTest, ListFiltersAndOrdersNewestFirst) {
  ASSERT_TRUE(store_->CreateRun(NewRun("a", "one")).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("b", "two")).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("c", "one")).ok());
  ASSERT_TRUE(Move("c", RunStatus::kPreparing).ok());
  ASSERT_TRUE(Move("b", RunStatus::kCanceled).ok());

  const auto ids = [](const Result<std::vector<RunRecord>>& runs) {
    std::vector<std::string> out;
    if (runs.ok()) {
      for (const RunRecord& run : *runs) out.push_back(run.id);
    }
    return out;
  };
  EXPECT_EQ(ids(store_->ListRuns({})), (std::vector<std::string>{"c", "b", "a"}));
  RunFilter one;
  one.experiment = "one";
  EXPECT_EQ(ids(store_->ListRuns(one)), (std::vector<std::string>{"c", "a"}));
  RunFilter preparing;
  preparing.status = RunStatus::kPreparing;
  EXPECT_EQ(ids(store_->ListRuns(preparing)), (std::vector<std::string>{"c"}));
  RunFilter active;
  active.only_active = true;
  EXPECT_EQ(ids(store_->ListRuns(active)), (std::vector<std::string>{"c", "a"}));
  RunFilter limited;
  limited.limit = 1;
  EXPECT_EQ(ids(store_->ListRuns(limited)), (std::vector<std::string>{"c"}));
  // Keyset paging: each page starts after the last run of the one before.
  RunFilter page;
  page.limit = 2;
  const Result<std::vector<RunRecord>> first = store_->ListRuns(page);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ids(first), (std::vector<std::string>{"c", "b"}));
  page.after = RunFilter::Position{first->back().created_at, first->back().id};
  EXPECT_EQ(ids(store_->ListRuns(page)), (std::vector<std::string>{"a"}));
  const Result<std::vector<RunRecord>> listed = store_->ListRuns(one);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->front().tags.at("owner"), "ana");
}

TEST_P(StoreParityTest, ExperimentsCountTheirRuns) {
  ASSERT_TRUE(store_->CreateRun(NewRun("a", "one")).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("b", "two")).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("c", "one")).ok());
  const Result<std::vector<Experiment>> experiments = store_->ListExperiments();
  ASSERT_TRUE(experiments.ok());
  ASSERT_EQ(experiments->size(), 2u);
  EXPECT_EQ((*experiments)[0].name, "one");
  EXPECT_EQ((*experiments)[0].run_count, 2);
  EXPECT_EQ((*experiments)[1].run_count, 1);
}

TEST_P(StoreParityTest, DatastoresRegisterListRemove) {
  ASSERT_TRUE(store_->RegisterDatastore({"fm", "local", "/data/fm", 0}).ok());
  EXPECT_EQ(store_->RegisterDatastore({"fm", "local", "/other", 0}).code(),
            StatusCode::kAlreadyExists);
  const Result<Datastore> fm = store_->GetDatastore("fm");
  ASSERT_TRUE(fm.ok());
  EXPECT_EQ(fm->path, "/data/fm");
  EXPECT_GT(fm->created_at, 0);
  ASSERT_TRUE(store_->RegisterDatastore({"a", "local", "/a", 0}).ok());
  const Result<std::vector<Datastore>> all = store_->ListDatastores();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a");
  ASSERT_TRUE(store_->RemoveDatastore("fm").ok());
  EXPECT_EQ(store_->GetDatastore("fm").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RemoveDatastore("fm").code(), StatusCode::kNotFound);
}

TEST_P(StoreParityTest, ModelVersionsCountPerNameAndAreNeverReused) {
  ModelVersion model;
  model.name = "fashion";
  model.run_id = "run-1";
  model.experiment = "exp";
  model.snapshot_id = "sha256:abc";
  model.path = "outputs/model.onnx";
  model.format = "onnx";
  model.sha256 = "00ff";
  model.size_bytes = 42;
  model.tags = {{"stage", "dev"}, {"owner", "ana"}};
  model.metrics_json = R"({"test_accuracy":0.91})";
  const Result<ModelVersion> first = store_->CreateModelVersion(model);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->version, 1);
  EXPECT_GT(first->created_at, 0);
  EXPECT_EQ(first->tags.front().first, "owner");  // sorted by key
  ASSERT_EQ(store_->CreateModelVersion(model).value().version, 2);
  model.name = "other";
  ASSERT_EQ(store_->CreateModelVersion(model).value().version, 1);

  const Result<ModelVersion> latest = store_->GetModelVersion("fashion", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->metrics_json, R"({"test_accuracy":0.91})");
  EXPECT_EQ(latest->snapshot_id, "sha256:abc");
  EXPECT_EQ(store_->GetModelVersion("fashion", 3).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetModelVersion("nothing", 0).status().code(), StatusCode::kNotFound);

  const Result<std::vector<ModelVersion>> all = store_->ListModelVersions("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "fashion");
  EXPECT_EQ((*all)[0].version, 2);  // newest first within a name
  EXPECT_EQ((*all)[2].name, "other");
  EXPECT_EQ(store_->ListModelVersions("fashion").value().size(), 2u);

  ASSERT_TRUE(store_->RemoveModelVersion("fashion", 2).ok());
  EXPECT_EQ(store_->RemoveModelVersion("fashion", 2).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetModelVersion("fashion", 0).value().version, 1);
  model.name = "fashion";
  EXPECT_EQ(store_->CreateModelVersion(model).value().version, 3) << "2 is never reused";
}

TEST_P(StoreParityTest, ADeploymentBelongsToItsVersionAndGoesWithIt) {
  ModelVersion model;
  model.name = "fashion";
  model.format = "state_dict";
  ASSERT_TRUE(store_->CreateModelVersion(model).ok());
  ASSERT_TRUE(store_->CreateModelVersion(model).ok());
  const ModelDeployment deployment{.entry_script = "serving/score.py",
                                   .snapshot_id = std::string(64, 'a'),
                                   .environment_name = "torch-extras",
                                   .environment_json = R"({"pip_packages":["tqdm"]})"};
  const Result<ModelVersion> deployed = store_->SetModelDeployment("fashion", 1, deployment);
  ASSERT_TRUE(deployed.ok()) << deployed.status().message();
  ASSERT_TRUE(deployed->deployment.has_value());
  EXPECT_EQ(deployed->deployment->entry_script, "serving/score.py");
  EXPECT_GT(deployed->deployment->deployed_at, 0);

  const ModelVersion read = store_->GetModelVersion("fashion", 1).value();
  ASSERT_TRUE(read.deployment.has_value());
  EXPECT_EQ(*read.deployment, *deployed->deployment) << "every field read back";
  EXPECT_FALSE(store_->GetModelVersion("fashion", 0).value().deployment) << "only version 1";
  const std::vector<ModelVersion> listed = store_->ListModelVersions("fashion").value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_FALSE(listed[0].deployment);
  EXPECT_TRUE(listed[1].deployment);

  // Deploying again replaces it; the latest version is version 0.
  ModelDeployment again = deployment;
  again.entry_script = "score.py";
  again.environment_name.clear();
  again.environment_json = "{}";
  ASSERT_TRUE(store_->SetModelDeployment("fashion", 1, again).ok());
  EXPECT_EQ(store_->GetModelVersion("fashion", 1).value().deployment->entry_script, "score.py");
  EXPECT_EQ(store_->SetModelDeployment("fashion", 0, again).value().version, 2);

  EXPECT_EQ(store_->SetModelDeployment("fashion", 9, again).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetModelDeployment("nothing", 0, again).status().code(), StatusCode::kNotFound);

  const Result<ModelVersion> removed = store_->RemoveModelDeployment("fashion", 2);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_FALSE(removed->deployment);
  EXPECT_EQ(store_->RemoveModelDeployment("fashion", 2).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store_->GetModelVersion("fashion", 2).value().deployment);

  // Removing the version removes its deployment: a new version never inherits one.
  ASSERT_TRUE(store_->RemoveModelVersion("fashion", 1).ok());
  EXPECT_EQ(store_->GetModelVersion("fashion", 1).status().code(), StatusCode::kNotFound);
  const ModelVersion third = store_->CreateModelVersion(model).value();
  EXPECT_EQ(third.version, 3);
  EXPECT_FALSE(store_->GetModelVersion("fashion", 3).value().deployment);
}

TEST_P(StoreParityTest, ComputeTargetsAddListRemove) {
  const ComputeTargetRecord gpu{"gpu", "slurm", R"({"partition":"gpu","max_nodes":4})", 0};
  ASSERT_TRUE(store_->AddComputeTarget(gpu).ok());
  EXPECT_EQ(store_->AddComputeTarget(gpu).code(), StatusCode::kAlreadyExists);
  const Result<ComputeTargetRecord> got = store_->GetComputeTarget("gpu");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->type, "slurm");
  EXPECT_EQ(got->config_json, gpu.config_json);
  EXPECT_GT(got->created_at, 0);
  ASSERT_TRUE(store_->AddComputeTarget({"cpu", "slurm", "{}", 0}).ok());
  const Result<std::vector<ComputeTargetRecord>> all = store_->ListComputeTargets();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "cpu");
  ASSERT_TRUE(store_->RemoveComputeTarget("gpu").ok());
  EXPECT_EQ(store_->GetComputeTarget("gpu").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RemoveComputeTarget("gpu").code(), StatusCode::kNotFound);
}

TEST_P(StoreParityTest, ApiTokensCreateListRevoke) {
  ApiToken user{"tok_000000000001", "ana", std::string(64, 'b'), {}, 0, {}};
  ApiToken run_token{"tok_000000000002", "run:r1", std::string(64, 'c'), "r1", 0, {}};
  ASSERT_TRUE(store_->CreateApiToken(user).ok());
  ASSERT_TRUE(store_->CreateApiToken(run_token).ok());
  user.id = "tok_000000000003";
  EXPECT_EQ(store_->CreateApiToken(user).code(), StatusCode::kAlreadyExists);

  const Result<ApiToken> got = store_->GetApiToken("tok_000000000002");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "run:r1");
  EXPECT_EQ(got->secret_sha256, std::string(64, 'c'));
  EXPECT_EQ(got->run_id, "r1");
  EXPECT_GT(got->created_at, 0);
  EXPECT_FALSE(got->revoked_at.has_value());
  EXPECT_EQ(store_->GetApiToken("tok_ffffffffffff").status().code(), StatusCode::kNotFound);

  ASSERT_EQ(store_->ListApiTokens(false)->size(), 1u);
  ASSERT_EQ(store_->ListApiTokens(true)->size(), 2u);
  ASSERT_TRUE(store_->RevokeApiToken("tok_000000000001").ok());
  EXPECT_TRUE(store_->GetApiToken("tok_000000000001")->revoked_at.has_value());
  EXPECT_EQ(store_->RevokeApiToken("tok_000000000001").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->RevokeApiToken("tok_ffffffffffff").code(), StatusCode::kNotFound);
}

TEST_P(StoreParityTest, ApiTokensKeepTheirRoles) {
  for (const TokenRole role : kAllTokenRoles) {
    ApiToken token;
    token.id = "tok_00000000000" + std::to_string(static_cast<int>(role));
    token.name = std::string(TokenRoleName(role));
    token.secret_sha256 = std::string(64, 'b');
    token.role = role;
    ASSERT_TRUE(store_->CreateApiToken(token).ok());
    const Result<ApiToken> got = store_->GetApiToken(token.id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->role, role);
  }
  const Result<std::vector<ApiToken>> all = store_->ListApiTokens(false);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].role, TokenRole::kAdmin);
}

// Every way a run ends revokes its launcher's token in the same transaction; a user's token
// and a token of another run are untouched.
TEST_P(StoreParityTest, EndingARunRevokesItsTokens) {
  for (const RunStatus end : {RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kCanceled}) {
    const std::string id = fmt::format("r{}", static_cast<int>(end));
    ASSERT_TRUE(store_->CreateRun(NewRun(id)).ok());
    ApiToken token{"tok_0000000000" + std::to_string(10 + static_cast<int>(end)),
                   "run:" + id,
                   std::string(64, 'c'),
                   id,
                   0,
                   {}};
    ASSERT_TRUE(store_->CreateApiToken(token).ok());
    ASSERT_TRUE(Move(id, RunStatus::kPreparing).ok());
    ASSERT_TRUE(Move(id, RunStatus::kRunning).ok());
    EXPECT_FALSE(store_->GetApiToken(token.id)->revoked_at.has_value());
    if (end == RunStatus::kCanceled) {
      ASSERT_TRUE(Move(id, RunStatus::kCancelRequested).ok());
      EXPECT_FALSE(store_->GetApiToken(token.id)->revoked_at.has_value());
    } else if (end == RunStatus::kCompleted) {
      ASSERT_TRUE(Move(id, RunStatus::kFinalizing).ok());
    }
    const Result<RunRecord> ended = Move(id, end);
    ASSERT_TRUE(ended.ok()) << ended.status().ToString();
    const Result<ApiToken> after = store_->GetApiToken(token.id);
    ASSERT_TRUE(after.ok());
    ASSERT_TRUE(after->revoked_at.has_value()) << RunStatusName(end);
    EXPECT_EQ(*after->revoked_at, *ended->ended_at);
  }
  ASSERT_TRUE(store_->CreateRun(NewRun("other")).ok());
  ApiToken other{"tok_000000000099", "run:other", std::string(64, 'c'), "other", 0, {}};
  ApiToken user{"tok_000000000098", "ana", std::string(64, 'c'), {}, 0, {}};
  ASSERT_TRUE(store_->CreateApiToken(other).ok());
  ASSERT_TRUE(store_->CreateApiToken(user).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("last")).ok());
  ASSERT_TRUE(Move("last", RunStatus::kFailed).ok());
  EXPECT_FALSE(store_->GetApiToken(other.id)->revoked_at.has_value());
  EXPECT_FALSE(store_->GetApiToken(user.id)->revoked_at.has_value());
}

TEST_P(StoreParityTest, RunKeepsWhoSubmittedIt) {
  RunRecord run = NewRun("r1");
  run.submitted_by = "ana";
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EXPECT_EQ(store_->GetRun("r1")->submitted_by, "ana");
  ASSERT_TRUE(store_->CreateRun(NewRun("r2")).ok());
  const Result<std::vector<RunRecord>> runs = store_->ListRuns({});
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[1].submitted_by, "ana");
  EXPECT_EQ((*runs)[0].submitted_by, "");
}

TEST_P(StoreParityTest, TrialsAreRunsUnderTheirSweep) {
  RunRecord sweep = NewRun("s1");
  sweep.kind = RunKind::kSweep;
  ASSERT_TRUE(store_->CreateRun(sweep).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("other")).ok());
  Trial trial{"s1", 0, "s1_0", R"({"--lr":0.01})"};
  const Result<RunRecord> created = store_->CreateTrial(TrialRun("s1_0", "s1"), trial);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->parent_id, "s1");
  EXPECT_EQ(created->kind, RunKind::kJob);
  EXPECT_EQ(store_->GetRun("s1")->kind, RunKind::kSweep);
  ASSERT_TRUE(store_->CreateTrial(TrialRun("s1_1", "s1"), {"s1", 1, "s1_1", "{}"}).ok());

  // The same index again (a second driver) is refused and makes no run.
  const Result<RunRecord> again = store_->CreateTrial(TrialRun("s1_x", "s1"), {"s1", 1, "s1_x"});
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetRun("s1_x").status().code(), StatusCode::kNotFound);
  // Only sweeps take trials, and only while they have not ended.
  EXPECT_EQ(store_->CreateTrial(TrialRun("o_0", "other"), {"other", 0, "o_0"}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CreateTrial(TrialRun("n_0", "none"), {"none", 0, "n_0"}).status().code(),
            StatusCode::kNotFound);

  const Result<std::vector<Trial>> trials = store_->ListTrials("s1");
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ((*trials)[0].run_id, "s1_0");
  EXPECT_EQ((*trials)[0].params_json, R"({"--lr":0.01})");
  EXPECT_EQ((*trials)[0].status, RunStatus::kQueued);
  EXPECT_EQ((*trials)[1].index, 1);

  RunFilter children;
  children.parent_id = "s1";
  EXPECT_EQ(store_->ListRuns(children)->size(), 2u);
  RunFilter top;
  top.top_level = true;
  EXPECT_EQ(store_->ListRuns(top)->size(), 2u);  // s1 and other
  EXPECT_EQ(store_->ListRuns({})->size(), 4u);

  ASSERT_TRUE(Move("s1", RunStatus::kCanceled).ok());
  EXPECT_EQ(store_->CreateTrial(TrialRun("s1_2", "s1"), {"s1", 2, "s1_2"}).status().code(),
            StatusCode::kFailedPrecondition);

  // A canceled sweep reopens, and takes trials again; a job never reopens.
  const Result<RunRecord> reopened = store_->ReopenSweep("s1", "resumed by ana");
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened->status, RunStatus::kQueued);
  EXPECT_FALSE(reopened->ended_at.has_value());
  EXPECT_EQ(store_->GetStatusHistory("s1")->back().detail, "resumed by ana");
  EXPECT_TRUE(store_->CreateTrial(TrialRun("s1_2", "s1"), {"s1", 2, "s1_2"}).ok());
  EXPECT_EQ(store_->ReopenSweep("s1", "").status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Move("other", RunStatus::kCanceled).ok());
  EXPECT_EQ(store_->ReopenSweep("other", "").status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(StoreParityTest, EditsChangeWhatDescribesARunAtAnyTime) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  RunEdit edit;
  edit.display_name = "baseline";
  edit.description = "two\nlines";
  edit.set_tags = {{"owner", "ben"}, {"stage", ""}};
  edit.remove_tags = {"lr", "absent"};
  const Result<RunRecord> edited = store_->EditRun("r1", edit);  // while Queued
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  EXPECT_EQ(edited->display_name, "baseline");
  EXPECT_EQ(edited->description, "two\nlines");
  EXPECT_EQ(edited->tags, (std::map<std::string, std::string>{{"owner", "ben"}, {"stage", ""}}));
  EXPECT_EQ(store_->GetRun("r1")->description, "two\nlines");
  RunEdit rename;
  rename.display_name = "";
  EXPECT_EQ(store_->EditRun("r1", rename)->display_name, "");
  EXPECT_EQ(store_->GetRun("r1")->description, "two\nlines");  // unset members stay
  EXPECT_EQ(store_->EditRun("nope", rename).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreParityTest, ArchivedRunsAreListedOnlyWhenAsked) {
  RunRecord sweep = NewRun("s1");
  sweep.kind = RunKind::kSweep;
  ASSERT_TRUE(store_->CreateRun(sweep).ok());
  ASSERT_TRUE(store_->CreateTrial(TrialRun("s1_0", "s1"), {"s1", 0, "s1_0", "{}"}).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  RunEdit archive;
  archive.archived = true;
  // Only an ended run is archived, and a refused archive changes nothing.
  const Result<RunRecord> early = store_->EditRun("r1", archive);
  EXPECT_EQ(early.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("run r1 is Queued"), std::string::npos);
  ASSERT_TRUE(Move("r1", RunStatus::kCanceled).ok());
  ASSERT_TRUE(Move("s1_0", RunStatus::kCanceled).ok());
  ASSERT_TRUE(Move("s1", RunStatus::kCanceled).ok());
  const Result<RunRecord> archived = store_->EditRun("s1", archive);
  ASSERT_TRUE(archived.ok()) << archived.status().ToString();
  ASSERT_TRUE(archived->archived_at.has_value());
  const Timestamp first = *archived->archived_at;
  EXPECT_EQ(*store_->EditRun("s1", archive)->archived_at, first);  // kept from the first time

  const auto ids = [&](ArchivedRuns which) {
    RunFilter filter;
    filter.archived = which;
    const Result<std::vector<RunRecord>> runs = store_->ListRuns(filter);
    std::vector<std::string> out;
    for (const RunRecord& run : *runs) out.push_back(run.id);
    std::sort(out.begin(), out.end());
    return out;
  };
  // The sweep's trial went with it.
  EXPECT_EQ(ids(ArchivedRuns::kHidden), std::vector<std::string>{"r1"});
  EXPECT_EQ(ids(ArchivedRuns::kOnly), (std::vector<std::string>{"s1", "s1_0"}));
  EXPECT_EQ(ids(ArchivedRuns::kIncluded).size(), 3u);
  RunEdit restore;
  restore.archived = false;
  ASSERT_TRUE(store_->EditRun("s1", restore).ok());
  EXPECT_EQ(ids(ArchivedRuns::kHidden).size(), 3u);
  EXPECT_FALSE(store_->GetRun("s1_0")->archived_at.has_value());
}

TEST_P(StoreParityTest, EachJudgementOfATrialIsStoredOnce) {
  RunRecord sweep = NewRun("s1");
  sweep.kind = RunKind::kSweep;
  ASSERT_TRUE(store_->CreateRun(sweep).ok());
  ASSERT_TRUE(store_->CreateTrial(TrialRun("s1_0", "s1"), {"s1", 0, "s1_0"}).ok());
  ASSERT_TRUE(store_->RecordJudgement("s1_0", {0, 3, 3, 0.5, ""}).ok());
  // A restarted driver that read the trial before that judgement starts from 0 again.
  const Status stale = store_->RecordJudgement("s1_0", {0, 4, 4, 0.7, "stopped"});
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(stale.message(), "trial s1_0 is judged through interval 3 already, not 0");
  ASSERT_TRUE(store_->RecordJudgement("s1_0", {3, 4, 4, 0.25, "stopped early by X"}).ok());
  const Trial trial = store_->ListTrials("s1")->at(0);
  EXPECT_EQ(trial.judged_through, 4);
  EXPECT_EQ(trial.intervals, 4);
  EXPECT_EQ(trial.best, 0.25);
  EXPECT_EQ(trial.stop_reason, "stopped early by X");
  EXPECT_EQ(store_->RecordJudgement("s1", {0, 1, 1, {}, ""}).code(), StatusCode::kNotFound);
}

// A store of schema 5, before roles: its tokens had every power and become admin; its runs
// read with no submitter.
TEST(StoreMigrationTest, TokensOfAStoreBeforeRolesBecomeAdmin) {
  for (const Backend& backend : kBackends) {
    SCOPED_TRACE(backend.name);
    TestDir dir;
    const Status old = backend.at_version(
        dir, 5,
        "INSERT INTO api_tokens (id, name, secret_sha256, run_id, created_at) VALUES "
        "('tok_000000000001', 'ana', 'h', NULL, 1), ('tok_000000000002', 'run:r1', 'h', "
        "'r1', 2);"
        "INSERT INTO experiments (name, created_at) VALUES ('exp', 1);"
        "INSERT INTO runs (id, experiment_id, display_name, spec_json, snapshot_id, "
        "compute_target, run_dir, host, status, created_at) SELECT 'r0', id, 'd', '{}', 's', "
        "'local', '/runs/r0', 'h', 'Completed', 1 FROM experiments");
    ASSERT_TRUE(old.ok()) << old.ToString();
    Result<std::unique_ptr<Store>> store = backend.open(dir);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const Result<ApiToken> user = (*store)->GetApiToken("tok_000000000001");
    ASSERT_TRUE(user.ok()) << user.status().ToString();
    EXPECT_EQ(user->role, TokenRole::kAdmin);
    EXPECT_EQ(user->name, "ana");
    const Result<RunRecord> run = (*store)->GetRun("r0");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->submitted_by, "");
    EXPECT_EQ(run->description, "");
    EXPECT_FALSE(run->archived_at.has_value());
    // New tokens get the role they ask for.
    ApiToken viewer{"tok_000000000003", "vic", "h", {}, 0, {}, TokenRole::kViewer};
    ASSERT_TRUE((*store)->CreateApiToken(viewer).ok());
    EXPECT_EQ((*store)->GetApiToken(viewer.id)->role, TokenRole::kViewer);
  }
}

MetricBatch Batch(int rank, std::uint64_t before, std::uint64_t after) {
  MetricBatch batch;
  batch.rank = rank;
  batch.offset_before = before;
  batch.offset_after = after;
  return batch;
}

MetricSeries Scalars(const std::string& name, std::int64_t first_step, std::vector<double> values) {
  MetricSeries series;
  series.name = name;
  for (double value : values) series.points.push_back({first_step++, value, 1000 + first_step});
  return series;
}

TEST_P(StoreParityTest, EnvironmentsKeepTheirVersions) {
  const Result<EnvironmentVersion> first = store_->RegisterEnvironment("tb", R"({"pip":["a"]})");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->version, 1);
  EXPECT_GT(first->created_at, 0);
  // The same definition again makes no version; another one does.
  EXPECT_EQ(store_->RegisterEnvironment("tb", R"({"pip":["a"]})")->version, 1);
  EXPECT_EQ(store_->RegisterEnvironment("tb", R"({"pip":["b"]})")->version, 2);
  EXPECT_EQ(store_->RegisterEnvironment("other", "{}")->version, 1);
  EXPECT_EQ(store_->GetEnvironment("tb", 0)->definition_json, R"({"pip":["b"]})");
  EXPECT_EQ(store_->GetEnvironment("tb", 1)->definition_json, R"({"pip":["a"]})");
  const Result<EnvironmentVersion> missing = store_->GetEnvironment("tb", 7);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("has no version 7; it has versions 1 to 2"),
            std::string::npos);
  EXPECT_NE(store_->GetEnvironment("none", 0).status().message().find("kiln env list"),
            std::string::npos);
  const Result<std::vector<EnvironmentVersion>> latest = store_->ListEnvironments("");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ(latest->at(0).name, "other");
  EXPECT_EQ(latest->at(1).version, 2);
  const Result<std::vector<EnvironmentVersion>> all = store_->ListEnvironments("tb");
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).version, 2);  // newest first
}

TEST_P(StoreParityTest, DeletingARunRemovesEveryRecordOfIt) {
  RunRecord sweep = NewRun("s1");
  sweep.kind = RunKind::kSweep;
  ASSERT_TRUE(store_->CreateRun(sweep).ok());
  ASSERT_TRUE(store_->CreateTrial(TrialRun("s1_0", "s1"), {"s1", 0, "s1_0", "{}"}).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("kept")).ok());
  MetricBatch batch = Batch(0, 0, 10);
  batch.series.push_back(Scalars("loss", 0, {0.5}));
  ASSERT_TRUE(store_->AppendMetrics("s1_0", batch).ok());
  ApiToken token{"tok_000000000009", "run:s1_0", "h", std::string("s1_0"), 1, {},
                 TokenRole::kMember};
  ASSERT_TRUE(store_->CreateApiToken(token).ok());

  // A sweep whose trial has not ended is refused whole.
  ASSERT_TRUE(Move("s1", RunStatus::kCanceled).ok());
  const Result<std::vector<RunRecord>> early = store_->DeleteRun("s1");
  EXPECT_EQ(early.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("run s1_0 is Queued"), std::string::npos)
      << early.status().message();
  EXPECT_TRUE(store_->GetRun("s1").ok());

  ASSERT_TRUE(Move("s1_0", RunStatus::kCanceled).ok());
  // A trial goes only with its sweep: the sweep numbers its trials without gaps.
  const Result<std::vector<RunRecord>> trial_alone = store_->DeleteRun("s1_0");
  EXPECT_EQ(trial_alone.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(trial_alone.status().message().find("a trial goes with its sweep"), std::string::npos);
  const Result<std::vector<RunRecord>> removed = store_->DeleteRun("s1");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  ASSERT_EQ(removed->size(), 2u);
  EXPECT_EQ(removed->at(0).id, "s1_0");  // trials first
  EXPECT_EQ(removed->at(1).run_dir, "/runs/s1");
  for (const char* id : {"s1", "s1_0"}) {
    EXPECT_EQ(store_->GetRun(id).status().code(), StatusCode::kNotFound) << id;
    EXPECT_EQ(store_->GetStatusHistory(id).status().code(), StatusCode::kNotFound) << id;
  }
  const Result<std::vector<MetricSummary>> metrics = store_->ListMetrics("s1_0");
  EXPECT_TRUE(!metrics.ok() || metrics->empty());
  const Result<std::vector<Trial>> trials = store_->ListTrials("s1");
  EXPECT_TRUE(!trials.ok() || trials->empty());
  EXPECT_EQ(store_->GetApiToken(token.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ListRuns({})->size(), 1u);
  EXPECT_EQ(store_->DeleteRun("s1").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreParityTest, ReferencesNameEverySnapshotAndEnvironmentInUse) {
  RunRecord with_env = NewRun("r1");
  with_env.snapshot_id = std::string(64, 'b');
  with_env.spec_json = R"({"entry_script":"train.py","environment_hash":"e1e1"})";
  ASSERT_TRUE(store_->CreateRun(with_env).ok());
  ASSERT_TRUE(store_->CreateRun(NewRun("r2")).ok());
  ModelVersion model;
  model.name = "m";
  model.run_id = "gone";
  model.experiment = "exp";
  model.snapshot_id = std::string(64, 'c');
  model.path = "outputs/model.onnx";
  model.format = "onnx";
  model.sha256 = "00ff";
  ASSERT_TRUE(store_->CreateModelVersion(model).ok());
  ModelDeployment deployment;
  deployment.entry_script = "score.py";
  deployment.snapshot_id = std::string(64, 'd');
  ASSERT_TRUE(store_->SetModelDeployment("m", 1, deployment).ok());
  const Result<StoreReferences> references = store_->ListReferences();
  ASSERT_TRUE(references.ok()) << references.status().ToString();
  EXPECT_EQ(references->run_ids, (std::set<std::string>{"r1", "r2"}));
  EXPECT_EQ(references->snapshot_ids,
            (std::set<std::string>{std::string(64, 'a'), std::string(64, 'b'), std::string(64, 'c'),
                                   std::string(64, 'd')}));
  EXPECT_EQ(references->environment_hashes, std::set<std::string>{"e1e1"});
  EXPECT_TRUE(store_->Compact().ok());
}

// A hand-made store of four runs, and queries whose answers are known (run_query.h).
TEST_P(StoreParityTest, WhereQueriesFindTheRunsThatMatch) {
  struct Made {
    std::string id, experiment, owner, lr;
    std::optional<double> accuracy;
  };
  const std::vector<Made> made = {{"a", "fm", "ana", "0.1", 0.95},
                                  {"b", "fm", "ben", "0.01", 0.80},
                                  {"c", "cifar", "Ana", "0.1", std::nullopt},
                                  {"d", "cifar", "", "", 0.91}};
  for (const Made& one : made) {
    RunRecord run = NewRun(one.id, one.experiment);
    run.tags.clear();
    if (!one.owner.empty()) run.tags["owner"] = one.owner;
    run.params = {{"--lr", one.lr.empty() ? std::nullopt : std::optional(one.lr), {}},
                  {"--verbose", {}, {}}};
    run.display_name = one.id == "d" ? "50%_off" : "run " + one.id;
    ASSERT_TRUE(store_->CreateRun(run).ok());
    if (one.accuracy) {
      MetricBatch batch = Batch(0, 0, 10);
      batch.series.push_back(Scalars("test_accuracy", 0, {0.1, *one.accuracy}));
      batch.series.push_back(Scalars("val loss", 0, {1 - *one.accuracy}));
      ASSERT_TRUE(store_->AppendMetrics(one.id, batch).ok());
      // Rank 1 logged more; only rank 0 counts.
      MetricBatch other = Batch(1, 0, 10);
      other.series.push_back(Scalars("test_accuracy", 0, {0.99}));
      ASSERT_TRUE(store_->AppendMetrics(one.id, other).ok());
    }
  }
  ASSERT_TRUE(Move("b", RunStatus::kCanceled).ok());

  const auto found = [&](const std::string& where) {
    RunFilter filter;
    filter.where = where;
    const Result<std::vector<RunRecord>> runs = store_->ListRuns(filter);
    EXPECT_TRUE(runs.ok()) << where << ": " << runs.status().ToString();
    std::string ids;
    for (const RunRecord& run : runs.ok() ? *runs : std::vector<RunRecord>{}) ids += run.id;
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_EQ(found("metrics.test_accuracy > 0.9"), "ad");
  EXPECT_EQ(found("metrics.test_accuracy > 0.9 and tags.owner = 'ana'"), "a");
  EXPECT_EQ(found("metrics.test_accuracy >= 0.8 and metrics.test_accuracy < 0.91"), "b");
  EXPECT_EQ(found("metrics.`val loss` <= 0.07"), "a");
  EXPECT_EQ(found("metrics.test_accuracy != 0.95"), "bd");  // c has none: no match
  EXPECT_EQ(found("metrics.test_accuracy in (0.8, 0.91)"), "bd");
  EXPECT_EQ(found("tags.owner like 'ANA'"), "ac");  // ASCII case ignored
  EXPECT_EQ(found("tags.owner != 'ana'"), "bc");    // d has no owner: no match
  EXPECT_EQ(found("tags.owner not in ('ana', 'ben')"), "c");
  EXPECT_EQ(found("params.--lr = 0.1"), "ac");
  EXPECT_EQ(found("params.--lr = '0.01' or experiment = 'cifar'"), "bcd");
  EXPECT_EQ(found("params.--verbose = ''"), "abcd");
  EXPECT_EQ(found("params.--lr = ''"), "d");
  EXPECT_EQ(found("status = 'Canceled'"), "b");
  EXPECT_EQ(found("status != 'Canceled' and (experiment = 'fm' or name like '%\\_off')"), "ad");
  EXPECT_EQ(found("name like '50\\%%'"), "d");
  EXPECT_EQ(found("id in ('a', 'c') and kind = 'job' and target = 'local' and host = 'host1'"),
            "ac");
  EXPECT_EQ(found("submitter = ''"), "abcd");
  EXPECT_EQ(found("metrics.absent > 0 or tags.absent = 'x'"), "");

  // With the other filters and paging.
  RunFilter paged;
  paged.where = "experiment = 'cifar' or experiment = 'fm'";
  paged.experiment = "fm";
  paged.limit = 1;
  const Result<std::vector<RunRecord>> first = store_->ListRuns(paged);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  paged.after = RunFilter::Position{first->back().created_at, first->back().id};
  const Result<std::vector<RunRecord>> second = store_->ListRuns(paged);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_NE(second->at(0).id, first->at(0).id);

  RunFilter bad;
  bad.where = "params.--lr > 0.1";
  const Result<std::vector<RunRecord>> refused = store_->ListRuns(bad);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("where: at 13 ('>'): params.--lr is text"),
            std::string::npos)
      << refused.status().message();
}

TEST_P(StoreParityTest, MetricsAppendAndRead) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  MetricBatch first = Batch(0, 0, 100);
  first.series.push_back(Scalars("loss", 0, {0.9, 0.5, 0.7}));
  MetricSeries row;
  row.name = "scores";
  row.kind = MetricKind::kRow;
  row.description = "per epoch";
  row.values = {{5, R"({"a":1})"}, {6, R"({"a":2})"}};
  first.series.push_back(row);
  first.tags = {{"best", "0.5"}};
  ASSERT_TRUE(store_->AppendMetrics("r1", first).ok());
  MetricBatch second = Batch(0, 100, 160);
  second.series.push_back(Scalars("loss", 3, {0.2}));
  ASSERT_TRUE(store_->AppendMetrics("r1", second).ok());
  EXPECT_EQ(*store_->GetSpoolOffset("r1", 0), 160u);
  EXPECT_EQ(*store_->GetSpoolOffset("r1", 1), 0u);

  const Result<MetricSeries> loss = store_->ReadMetric("r1", "loss", 0);
  ASSERT_TRUE(loss.ok()) << loss.status().ToString();
  ASSERT_EQ(loss->points.size(), 4u);
  EXPECT_EQ(loss->points[3], (MetricPoint{3, 0.2, 1004}));
  const Result<MetricSeries> scores = store_->ReadMetric("r1", "scores", 0);
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(scores->kind, MetricKind::kRow);
  EXPECT_EQ(scores->description, "per epoch");
  EXPECT_EQ(scores->values, row.values);

  const Result<std::vector<MetricSummary>> summaries = store_->ListMetrics("r1");
  ASSERT_TRUE(summaries.ok());
  ASSERT_EQ(summaries->size(), 2u);
  const MetricSummary& summary = (*summaries)[0];
  EXPECT_EQ(summary.name, "loss");
  EXPECT_EQ(summary.count, 4);
  EXPECT_EQ(summary.last, 0.2);
  EXPECT_EQ(summary.min, 0.2);
  EXPECT_EQ(summary.max, 0.9);
  EXPECT_EQ(summary.last_step, 3);
  EXPECT_EQ((*summaries)[1].count, 2);
  EXPECT_FALSE((*summaries)[1].last.has_value());
  EXPECT_EQ(store_->GetRun("r1")->tags.at("best"), "0.5");
}

TEST_P(StoreParityTest, StaleBatchWritesNothing) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  MetricBatch batch = Batch(0, 0, 50);
  batch.series.push_back(Scalars("loss", 0, {1, 2}));
  ASSERT_TRUE(store_->AppendMetrics("r1", batch).ok());
  // The same bytes again, as a restarted reader would send them.
  const Status again = store_->AppendMetrics("r1", batch);
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ReadMetric("r1", "loss", 0)->points.size(), 2u);
  EXPECT_EQ(*store_->GetSpoolOffset("r1", 0), 50u);
}

TEST_P(StoreParityTest, KindChangeIsRefusedWhole) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  MetricBatch batch = Batch(0, 0, 10);
  batch.series.push_back(Scalars("x", 0, {1}));
  ASSERT_TRUE(store_->AppendMetrics("r1", batch).ok());
  MetricBatch mixed = Batch(0, 10, 20);
  mixed.series.push_back(Scalars("y", 0, {5}));
  MetricSeries list;
  list.name = "x";
  list.kind = MetricKind::kList;
  list.values = {{1, "[1,2]"}};
  mixed.series.push_back(list);
  EXPECT_EQ(store_->AppendMetrics("r1", mixed).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReadMetric("r1", "y", 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store_->GetSpoolOffset("r1", 0), 10u);
}

TEST_P(StoreParityTest, LongSeriesAndRanksStaySeparate) {
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  constexpr int kPoints = 200'000;
  MetricBatch rank0 = Batch(0, 0, 1);
  MetricSeries big;
  big.name = "loss";
  for (int i = 0; i < kPoints; ++i) big.points.push_back({i, i * 0.5, i});
  rank0.series.push_back(big);
  ASSERT_TRUE(store_->AppendMetrics("r1", rank0).ok());
  MetricBatch rank1 = Batch(1, 0, 1);
  rank1.series.push_back(Scalars("loss", 0, {42}));
  ASSERT_TRUE(store_->AppendMetrics("r1", rank1).ok());
  const Result<MetricSeries> zero = store_->ReadMetric("r1", "loss", 0);
  ASSERT_TRUE(zero.ok());
  ASSERT_EQ(zero->points.size(), static_cast<std::size_t>(kPoints));
  for (int i = 0; i < kPoints; i += 9973) EXPECT_EQ(zero->points[i].step, i);
  EXPECT_EQ(zero->points.back().value, (kPoints - 1) * 0.5);
  EXPECT_EQ(store_->ReadMetric("r1", "loss", 1)->points.size(), 1u);
  EXPECT_EQ(store_->ListMetrics("r1")->size(), 2u);
}

TEST_P(StoreParityTest, MetricsOfUnknownRunsAreNotFound) {
  EXPECT_EQ(store_->AppendMetrics("nope", Batch(0, 0, 1)).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->CreateRun(NewRun("r1")).ok());
  EXPECT_EQ(store_->ReadMetric("r1", "missing", 0).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListMetrics("r1")->empty());
}

// A finishing launcher and a cancelling user race on every run, each through its own
// connection: exactly one wins each run, and no history is impossible.
TEST_P(StoreParityTest, RacingTransitionsHaveOneWinner) {
  constexpr int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) {
    const std::string id = "r" + std::to_string(i);
    ASSERT_TRUE(store_->CreateRun(NewRun(id)).ok());
    ASSERT_TRUE(Move(id, RunStatus::kPreparing).ok());
    ASSERT_TRUE(Move(id, RunStatus::kRunning).ok());
  }
  std::vector<std::thread> racers;
  std::vector<Status> failures(2);
  const RunStatus targets[] = {RunStatus::kFinalizing, RunStatus::kCancelRequested};
  for (int racer = 0; racer < 2; ++racer) {
    racers.emplace_back([&, racer] {
      auto store = GetParam().open(dir_);
      if (!store.ok()) {
        failures[racer] = store.status();
        return;
      }
      for (int i = 0; i < kRuns; ++i) {
        Transition transition;
        transition.to = targets[racer];
        const auto moved = (*store)->TransitionRun("r" + std::to_string(i), transition);
        if (!moved.ok() && moved.status().code() != StatusCode::kFailedPrecondition) {
          failures[racer] = moved.status();
        }
      }
    });
  }
  for (std::thread& racer : racers) racer.join();
  for (const Status& failure : failures) EXPECT_TRUE(failure.ok()) << failure.ToString();
  for (int i = 0; i < kRuns; ++i) {
    const auto history = store_->GetStatusHistory("r" + std::to_string(i));
    ASSERT_TRUE(history.ok());
    ASSERT_EQ(history->size(), 4u);
    const RunStatus last = history->back().status;
    EXPECT_TRUE(last == RunStatus::kFinalizing || last == RunStatus::kCancelRequested);
    EXPECT_EQ(store_->GetRun("r" + std::to_string(i))->status, last);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreParityTest, ::testing::ValuesIn(kBackends),
                         [](const auto& test_info) { return test_info.param.name; });

}  // namespace
}  // namespace kiln::store
