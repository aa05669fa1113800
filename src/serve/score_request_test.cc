#include "serve/score_request.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kiln::serve {
namespace {

const std::vector<std::int64_t> kShape = {1, 2, 2};  // 4 numbers a sample

TEST(ScoreRequestTest, JsonSamplesMayBeNestedOrFlat) {
  const Result<InputBatch> batch =
      ParseJsonInputs(R"({"inputs": [[[[1, 2], [3, 4]]], [5, 6, 7, 8.5]]})", kShape);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->values, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8.5f}));
}

TEST(ScoreRequestTest, JsonErrorsSayWhereAndWhat) {
  const auto message = [](std::string_view body) {
    return ParseJsonInputs(body, kShape).status().message();
  };
  EXPECT_EQ(message(R"({"inputs": [[1, 2, 3]]})"),
            "inputs[0]: 3 numbers; the model takes 4 per sample (shape [1,2,2]), flat or nested");
  EXPECT_EQ(message(R"({"inputs": [[[[1, 2], [3]]]]})"),
            "inputs[0][0][1]: expected an array of 2 (the model's input per sample is [1,2,2])");
  EXPECT_EQ(message(R"({"inputs": [[1, "2", 3, 4]]})"), "inputs[0][1]: \"2\" is not a number");
  EXPECT_EQ(message(R"({"inputs": [[[[1, 2], [3, null]]]]})"),
            "inputs[0][0][1][1]: null is not a number");
  EXPECT_EQ(message(R"({"inputs": [[1, 2, 3, 1e300]]})"), "inputs[0][3]: 1e+300 does not fit in a float32");
  EXPECT_EQ(message(R"({"inputs": []})"), "inputs: expected a non-empty array of samples");
  EXPECT_NE(message(R"({"samples": []})").find("must be a JSON object {\"inputs\""), std::string::npos);
  EXPECT_NE(message("{\"inputs\": [[1,").find("the body is not JSON"), std::string::npos);
  EXPECT_NE(message("").find("the body is not JSON"), std::string::npos);
}

std::string Floats(const std::vector<float>& values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST(ScoreRequestTest, RawBodiesTakeTheirShapeFromTheHeader) {
  Result<InputBatch> batch = ParseRawInputs(Floats({1, 2, 3, 4, 5, 6, 7, 8}), "2,1,2,2", kShape);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->values[7], 8);
  batch = ParseRawInputs(Floats({1, 2, 3, 4}), "1, 4", kShape);  // flat samples
  ASSERT_TRUE(batch.ok()) << batch.status().message();

  EXPECT_EQ(ParseRawInputs(Floats({1, 2, 3}), "1,1,2,2", kShape).status().message(),
            "the body has 12 bytes; shape [1,1,2,2] needs 4 float32s (16 bytes)");
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "", kShape).status().message().find("X-Kiln-Shape"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "1,2,2", kShape).status().message().find(
                "the model takes samples of shape [1,2,2]"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "1,x,2,2", kShape).status().message().find(
                "positive sizes"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "0,1,2,2", kShape).status().message().find(
                "positive sizes"),
            std::string::npos);
  EXPECT_EQ(ParseRawInputs(Floats({1, 2, std::numeric_limits<float>::quiet_NaN(), 4}), "1,1,2,2",
                           kShape)
                .status()
                .message(),
            "value 2 of the body is not a finite number");
}

}  // namespace
}  // namespace kiln::serve
