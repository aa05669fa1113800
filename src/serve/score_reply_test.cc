#include "serve/score_reply.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kiln::serve {
namespace {

using nlohmann::json;

TEST(ScoreReplyTest, JsonNestsEveryOutputInItsShape) {
  const std::vector<inference::Tensor> outputs = {
      {"logits", {2, 3}, {0, 5, 1, 7, 2, 3}, 0},
      {"tokens", {2, 2, 1}, {1, 2, 3, 4}, 0},
      {"state", {1, 2, 2}, {9, 8, 7, 6}, 1},
  };
  const json reply = ScoresJson(outputs, "tagger", 3);
  EXPECT_EQ(reply["model"], "tagger");
  EXPECT_EQ(reply["version"], 3);
  EXPECT_EQ(reply["outputs"]["logits"], json::parse("[[0, 5, 1], [7, 2, 3]]"));
  EXPECT_EQ(reply["outputs"]["tokens"], json::parse("[[[1], [2]], [[3], [4]]]"));
  EXPECT_EQ(reply["outputs"]["state"], json::parse("[[[9, 8], [7, 6]]]"));
  EXPECT_EQ(reply["argmax"], json::parse("[1, 0]"));
}

TEST(ScoreReplyTest, ArgmaxOnlyWhereTheFirstOutputIsBatchByClasses) {
  const json tokens = ScoresJson({{"tokens", {1, 2, 2}, {1, 2, 3, 4}, 0}}, "m", 1);
  EXPECT_FALSE(tokens.contains("argmax"));
  const json summed = ScoresJson({{"total", {1, 2}, {1, 2}, std::nullopt}}, "m", 1);
  EXPECT_FALSE(summed.contains("argmax"));
}

TEST(ScoreReplyTest, RawRepliesHoldEveryOutputInOrder) {
  const std::vector<inference::Tensor> outputs = {{"logits", {2, 2}, {1, 2, 3, 4}, 0},
                                                  {"pooled", {2, 1}, {5, 6}, 0}};
  const RawScores raw = RawScoresOf(outputs);
  EXPECT_EQ(raw.outputs_header, "logits=2,2; pooled=2,1");
  EXPECT_EQ(raw.first_shape, "2,2");
  ASSERT_EQ(raw.body.size(), 6 * sizeof(float));
  std::vector<float> values(6);
  std::memcpy(values.data(), raw.body.data(), raw.body.size());
  EXPECT_EQ(values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace kiln::serve
