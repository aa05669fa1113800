#include "sweep/parameter_expression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

namespace kiln::sweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

ParameterExpression Parsed(const char* text) {
  Result<ParameterExpression> expression = ParameterExpression::Parse(json::parse(text), "p");
  EXPECT_TRUE(expression.ok()) << expression.status().ToString();
  return std::move(expression).value();
}

std::string ParseError(const char* text) {
  Result<ParameterExpression> expression =
      ParameterExpression::Parse(json::parse(text), "sweep.yaml: search_space.--lr");
  EXPECT_FALSE(expression.ok());
  EXPECT_EQ(expression.status().code(), StatusCode::kInvalidArgument);
  return expression.status().message();
}

std::vector<double> Draw(const ParameterExpression& expression, int count, std::uint64_t seed) {
  RandomStream random(seed);
  std::vector<double> values;
  for (int i = 0; i < count; ++i) values.push_back(expression.Sample(random).get<double>());
  return values;
}

double Mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double StdDev(const std::vector<double>& values) {
  double mean = Mean(values);
  double sum = 0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return std::sqrt(sum / static_cast<double>(values.size() - 1));
}

constexpr int kDraws = 20000;

TEST(ParameterExpressionTest, UniformStaysInItsBoundsWithTheRightMean) {
  std::vector<double> values =
      Draw(Parsed(R"({"type":"uniform","min_value":2,"max_value":5})"), kDraws, 1);
  for (double v : values) {
    ASSERT_GE(v, 2);
    ASSERT_LE(v, 5);
  }
  // Standard error of the mean: 3 / sqrt(12 * 20000) ~ 0.0061; allow 5 of them.
  EXPECT_NEAR(Mean(values), 3.5, 0.031);
  EXPECT_NEAR(StdDev(values), 3 / std::sqrt(12.0), 0.02);
}

TEST(ParameterExpressionTest, LogUniformBoundsAreExponents) {
  std::vector<double> values =
      Draw(Parsed(R"({"type":"loguniform","min_value":-9.21,"max_value":-2.3})"), kDraws, 2);
  std::vector<double> logs;
  for (double v : values) {
    ASSERT_GE(v, std::exp(-9.21) * (1 - 1e-12));
    ASSERT_LE(v, std::exp(-2.3) * (1 + 1e-12));
    logs.push_back(std::log(v));
  }
  EXPECT_NEAR(Mean(logs), (-9.21 - 2.3) / 2, 0.07);
  // Half the draws fall below the geometric midpoint, not the arithmetic one.
  int below = 0;
  for (double v : values) below += v < std::exp((-9.21 - 2.3) / 2) ? 1 : 0;
  EXPECT_NEAR(below / static_cast<double>(kDraws), 0.5, 0.02);
}

TEST(ParameterExpressionTest, NormalAndLogNormalHaveTheirMoments) {
  std::vector<double> normal = Draw(Parsed(R"({"type":"normal","mu":10,"sigma":3})"), kDraws, 3);
  EXPECT_NEAR(Mean(normal), 10, 5 * 3 / std::sqrt(kDraws));
  EXPECT_NEAR(StdDev(normal), 3, 0.06);
  std::vector<double> lognormal =
      Draw(Parsed(R"({"type":"lognormal","mu":0,"sigma":0.5})"), kDraws, 4);
  std::vector<double> logs;
  for (double v : lognormal) {
    ASSERT_GT(v, 0);
    logs.push_back(std::log(v));
  }
  EXPECT_NEAR(Mean(logs), 0, 5 * 0.5 / std::sqrt(kDraws));
  EXPECT_NEAR(StdDev(logs), 0.5, 0.01);
}

TEST(ParameterExpressionTest, QFormsGiveMultiplesOfQAsIntegersWhenQIsWhole) {
  ParameterExpression batch =
      Parsed(R"({"type":"quniform","min_value":16,"max_value":128,"q":16})");
  RandomStream random(5);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    json value = batch.Sample(random);
    ASSERT_TRUE(value.is_number_integer()) << value.dump();
    ASSERT_EQ(value.get<std::int64_t>() % 16, 0);
    seen.insert(value.get<std::int64_t>());
  }
  EXPECT_EQ(seen, (std::set<std::int64_t>{16, 32, 48, 64, 80, 96, 112, 128}));
  EXPECT_EQ(batch.Cardinality(), 8u);
  EXPECT_EQ(batch.FiniteValue(2), json(48));
  EXPECT_EQ(batch.IndexOfValue(json(48)), 2u);
  EXPECT_EQ(batch.IndexOfValue(json(50)), std::nullopt);

  ParameterExpression fraction = Parsed(R"({"type":"qnormal","mu":0.5,"sigma":0.2,"q":0.05})");
  RandomStream random2(6);
  for (int i = 0; i < 200; ++i) {
    json value = fraction.Sample(random2);
    ASSERT_TRUE(value.is_number_float());
    double steps = value.get<double>() / 0.05;
    ASSERT_NEAR(steps, std::round(steps), 1e-9);
  }
  EXPECT_EQ(fraction.Cardinality(), std::nullopt);

  ParameterExpression log_q = Parsed(R"({"type":"qloguniform","min_value":0,"max_value":4,"q":2})");
  RandomStream random3(7);
  for (int i = 0; i < 500; ++i) {
    std::int64_t value = log_q.Sample(random3).get<std::int64_t>();
    ASSERT_EQ(value % 2, 0);
    ASSERT_GE(value, 0);
    ASSERT_LE(value, 56);  // round(e^4 / 2) * 2
  }
}

TEST(ParameterExpressionTest, ChoiceAndRandintDrawEveryValueEvenly) {
  ParameterExpression choice = Parsed(R"({"type":"choice","values":["adam","sgd","rmsprop"]})");
  ParameterExpression randint = Parsed(R"({"type":"randint","upper":4})");
  RandomStream random(8);
  std::map<std::string, int> choices;
  std::map<std::int64_t, int> ints;
  for (int i = 0; i < 12000; ++i) {
    ++choices[choice.Sample(random).get<std::string>()];
    ++ints[randint.Sample(random).get<std::int64_t>()];
  }
  ASSERT_EQ(choices.size(), 3u);
  ASSERT_EQ(ints.size(), 4u);
  // Chi-square against uniform; the 0.999 quantiles are 13.8 (2 df) and 16.3 (3 df).
  double chi_choice = 0;
  for (const auto& [value, count] : choices) chi_choice += std::pow(count - 4000, 2) / 4000;
  double chi_int = 0;
  for (const auto& [value, count] : ints) {
    ASSERT_GE(value, 0);
    ASSERT_LT(value, 4);
    chi_int += std::pow(count - 3000, 2) / 3000;
  }
  EXPECT_LT(chi_choice, 13.8);
  EXPECT_LT(chi_int, 16.3);
}

TEST(ParameterExpressionTest, TheSameSeedGivesTheSameValues) {
  ParameterExpression expression = Parsed(R"({"type":"normal","mu":0,"sigma":1})");
  EXPECT_EQ(Draw(expression, 10, 42), Draw(expression, 10, 42));
  EXPECT_NE(Draw(expression, 10, 42), Draw(expression, 10, 43));
}

TEST(ParameterExpressionTest, RoundTripsThroughJson) {
  for (const char* text :
       {R"({"type":"choice","values":[1,2.5,3]})", R"({"type":"randint","upper":7})",
        R"({"type":"quniform","max_value":9.0,"min_value":1.0,"q":2.0})",
        R"({"mu":1.0,"sigma":2.0,"type":"lognormal"})"}) {
    ParameterExpression expression = Parsed(text);
    EXPECT_EQ(expression.ToJson(), json::parse(text)) << text;
  }
}

TEST(ParameterExpressionTest, RefusesBadExpressionsNamingTheField) {
  EXPECT_EQ(ParseError(R"({"type":"uniformm","min_value":0,"max_value":1})"),
            "sweep.yaml: search_space.--lr.type: unknown expression 'uniformm'; use one of "
            "choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, "
            "lognormal, qlognormal");
  EXPECT_EQ(ParseError(R"({"type":"uniform","min_value":0.1,"max_value":0.01})"),
            "sweep.yaml: search_space.--lr: uniform needs min_value < max_value, got 0.1 and "
            "0.01");
  EXPECT_EQ(ParseError(R"({"type":"uniform","min_value":0.1})"),
            "sweep.yaml: search_space.--lr: uniform needs \"max_value\" (a number)");
  EXPECT_EQ(ParseError(R"({"type":"uniform","min_value":"a","max_value":1})"),
            "sweep.yaml: search_space.--lr.min_value: must be a number, got \"a\"");
  EXPECT_EQ(ParseError(R"({"type":"normal","mu":0,"sigma":1,"q":2})"),
            "sweep.yaml: search_space.--lr: normal takes no field \"q\"; its fields are mu, "
            "sigma");
  EXPECT_EQ(ParseError(R"({"type":"quniform","min_value":0,"max_value":1,"q":0})"),
            "sweep.yaml: search_space.--lr.q: must be > 0, got 0");
  EXPECT_EQ(ParseError(R"({"type":"normal","mu":0,"sigma":0})"),
            "sweep.yaml: search_space.--lr.sigma: must be > 0, got 0");
  EXPECT_EQ(ParseError(R"({"type":"randint","upper":2.5})"),
            "sweep.yaml: search_space.--lr.upper: must be a whole number >= 1, got 2.5");
  EXPECT_EQ(ParseError(R"({"type":"choice","values":[]})"),
            "sweep.yaml: search_space.--lr.values: must be a non-empty list of numbers or "
            "strings, got []");
  EXPECT_EQ(ParseError(R"({"type":"choice","values":[1,"a"]})"),
            "sweep.yaml: search_space.--lr.values: mixes strings and numbers; give all as "
            "strings or none");
  EXPECT_EQ(ParseError(R"({"type":"choice","values":[1,true]})"),
            "sweep.yaml: search_space.--lr.values[1]: must be a number or a string, got true");
  EXPECT_EQ(ParseError(R"({"type":"choice","values":[4,8,4]})"),
            "sweep.yaml: search_space.--lr.values[2]: 4 is listed twice; list each value once");
  EXPECT_THAT(ParseError(R"({"type":"loguniform","min_value":0.0001,"max_value":1000})"),
              HasSubstr("loguniform takes exponents (the value is exp of them), and exp(1000) "
                        "overflows"));
  EXPECT_THAT(ParseError(R"([0.1, 0.2])"), HasSubstr("must be an object with a \"type\""));
  EXPECT_EQ(ParseError(R"({"type":"uniform","min_value":-1e308,"max_value":1e308})"),
            "sweep.yaml: search_space.--lr: uniform spans more than a double can hold (-1e+308 "
            "to 1e+308); narrow it");
  EXPECT_THAT(ParseError(R"({"type":"quniform","min_value":0,"max_value":1e300,"q":1e-300})"),
              HasSubstr("in steps of 1e-300); narrow it"));
  EXPECT_THAT(ParseError(R"({"type":"normal","mu":1e308,"sigma":1e308})"),
              HasSubstr("normal spans more than a double can hold"));
}

}  // namespace
}  // namespace kiln::sweep
