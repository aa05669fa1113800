#include "store/wire.h"

#include <gtest/gtest.h>

#include <cmath>

#include "store/record_json.h"

namespace kiln::store::wire {
namespace {

TEST(WireTest, RunRoundTrips) {
  store::Run run;
  run.id = "exp_1_abc";
  run.experiment = "exp";
  run.display_name = "first";
  run.spec_json = R"({"entry_script":"train.py","node_count":1})";
  run.snapshot_id = std::string(64, 'a');
  run.compute_target = "local";
  run.run_dir = "/runs/exp_1_abc";
  run.host = "h";
  run.submitted_by = "ana";
  run.status = RunStatus::kFailed;
  run.created_at = 1'764'580'353'123'456;
  run.started_at = run.created_at + 1;
  run.ended_at = run.created_at + 2;
  run.exit_code = 7;
  run.failure_reason = "rank 0 exited with code 7";
  run.failure_log_tail = {"a", "b"};
  run.params = {{"--data_dir", "{datastore:fm}", "/data/fm"}, {"--verbose", {}, {}}};
  run.tags = {{"owner", "ana"}};
  run.description = "line one\nline two";
  run.archived_at = run.created_at + 3;
  const Result<store::Run> back = RunFromJson(ToJson(run));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, run.id);
  EXPECT_EQ(back->spec_json, run.spec_json);
  EXPECT_EQ(back->status, run.status);
  EXPECT_EQ(back->created_at, run.created_at);
  EXPECT_EQ(back->ended_at, run.ended_at);
  EXPECT_EQ(back->exit_code, 7);
  EXPECT_EQ(back->failure_log_tail, run.failure_log_tail);
  EXPECT_EQ(back->params, run.params);
  EXPECT_EQ(back->tags, run.tags);
  EXPECT_EQ(back->submitted_by, "ana");
  EXPECT_EQ(back->description, run.description);
  EXPECT_EQ(back->archived_at, run.archived_at);
}

TEST(WireTest, RunEditRoundTripsAndRefusesWhatItCannotChange) {
  RunEdit edit;
  edit.display_name = "";
  edit.set_tags = {{"owner", "ben"}};
  edit.remove_tags = {"lr"};
  edit.archived = false;
  const Result<RunEdit> back = RunEditFromJson(RunEditToJson(edit));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->display_name, "");
  EXPECT_FALSE(back->description.has_value());
  EXPECT_EQ(back->set_tags, edit.set_tags);
  EXPECT_EQ(back->remove_tags, edit.remove_tags);
  EXPECT_EQ(back->archived, false);

  const auto refusal = [](const char* text) {
    return RunEditFromJson(nlohmann::json::parse(text)).status().message();
  };
  EXPECT_NE(refusal(R"({"status": "Completed"})").find("'status' cannot be changed"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"archived": "yes"})").find("archived"), std::string::npos);
  EXPECT_NE(refusal(R"({"tags": {"a": 1}})").find("edit.tags: expected string values"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"remove_tags": "a"})").find("remove_tags"), std::string::npos);
  EXPECT_NE(refusal("[]").find("expected a JSON object"), std::string::npos);
  EXPECT_EQ(ParseArchivedRuns("maybe").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseArchivedRuns("any"), ArchivedRuns::kIncluded);
}

TEST(WireTest, RunFromAServerWithoutSubmittedByReadsEmpty) {
  store::Run run;
  run.id = "r";
  run.spec_json = "{}";
  nlohmann::json json = ToJson(run);
  EXPECT_TRUE(json["submitted_by"].is_null());
  json.erase("submitted_by");
  const Result<store::Run> back = RunFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->submitted_by, "");
}

TEST(WireTest, TokenJsonNeverHoldsTheSecretHash) {
  ApiToken token{"tok_000000000001", "ana", std::string(64, 'f'), {}, 5, {}, TokenRole::kViewer};
  const nlohmann::json json = ToJson(token);
  EXPECT_EQ(json["role"], "viewer");
  EXPECT_EQ(json["name"], "ana");
  EXPECT_TRUE(json["run_id"].is_null());
  EXPECT_EQ(json.dump().find(std::string(64, 'f')), std::string::npos);
}

TEST(WireTest, BatchRoundTripsWithNumbersJsonCannotHold) {
  MetricBatch batch;
  batch.rank = 2;
  batch.offset_before = 10;
  batch.offset_after = 99;
  MetricSeries loss;
  loss.name = "loss";
  loss.points = {{0, 1.5, 100}, {1, std::nan(""), 101}, {2, -INFINITY, 102}};
  MetricSeries table;
  table.name = "t";
  table.kind = MetricKind::kTable;
  table.values = {{5, R"({"a":[1,2]})"}};
  batch.series = {loss, table};
  batch.tags = {{"k", "v"}};
  const Result<MetricBatch> back =
      MetricBatchFromJson(nlohmann::json::parse(MetricBatchToJson(batch).dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rank, 2);
  EXPECT_EQ(back->offset_after, 99u);
  ASSERT_EQ(back->series.size(), 2u);
  EXPECT_EQ(back->series[0].points[0], loss.points[0]);
  EXPECT_TRUE(std::isnan(back->series[0].points[1].value));
  EXPECT_EQ(back->series[0].points[2].value, -INFINITY);
  EXPECT_EQ(back->series[0].rank, 2);
  EXPECT_EQ(back->series[1].values, table.values);
  EXPECT_EQ(back->tags, batch.tags);
}

TEST(WireTest, ErrorsNameTheField) {
  const auto message = [](const Status& status) { return status.message(); };
  EXPECT_EQ(message(TransitionFromJson({{"to", "Runing"}}).status()),
            "transition.to: 'Runing' is not a run status");
  EXPECT_EQ(message(TransitionFromJson(nlohmann::json::array()).status()),
            "transition: expected a JSON object");
  EXPECT_EQ(message(MetricBatchFromJson({{"rank", 0}, {"offset_before", "x"}}).status()),
            "batch.offset_before: expected an integer");
  EXPECT_EQ(
      MetricBatchFromJson({{"rank", 0}, {"offset_before", 5}, {"offset_after", 4}}).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(message(ParseBody("{\"a\": ").status()).find("the body is not valid JSON"), 0u);
  const auto bad_series = MetricBatchFromJson({{"rank", 0},
                                               {"offset_before", 0},
                                               {"offset_after", 1},
                                               {"series",
                                                {{{"name", "x"},
                                                  {"rank", 0},
                                                  {"kind", "scalar"},
                                                  {"values", {1}},
                                                  {"times", {1}},
                                                  {"steps", nlohmann::json::array()}}}}});
  EXPECT_NE(
      message(bad_series.status()).find("values, times and steps must be lists of one length"),
      std::string::npos)
      << message(bad_series.status());
}

}  // namespace
}  // namespace kiln::store::wire
