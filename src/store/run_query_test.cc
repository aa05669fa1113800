#include "store/run_query.h"

#include <gtest/gtest.h>

namespace kiln::store {
namespace {

using Op = RunQuery::Op;
using Source = RunQuery::Source;
using Kind = RunQuery::Node::Kind;

TEST(RunQueryTest, ComparisonsJoinWithAndBeforeOr) {
  const Result<RunQuery> query = ParseRunQuery(
      "metrics.test_accuracy > 0.9 AND tags.owner = 'ana' or status in ('Failed', \"Canceled\")");
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  const RunQuery::Node& root = query->root;
  ASSERT_EQ(root.kind, Kind::kOr);
  ASSERT_EQ(root.children.size(), 2u);
  const RunQuery::Node& both = root.children[0];
  ASSERT_EQ(both.kind, Kind::kAnd);
  EXPECT_EQ(both.children[0].comparison.source, Source::kMetric);
  EXPECT_EQ(both.children[0].comparison.key, "test_accuracy");
  EXPECT_EQ(both.children[0].comparison.op, Op::kGt);
  EXPECT_EQ(std::get<double>(both.children[0].comparison.values[0]), 0.9);
  EXPECT_EQ(both.children[1].comparison.source, Source::kTag);
  EXPECT_EQ(std::get<std::string>(both.children[1].comparison.values[0]), "ana");
  const RunQuery::Comparison& in = root.children[1].comparison;
  EXPECT_EQ(in.op, Op::kIn);
  EXPECT_EQ(in.key, "status");
  ASSERT_EQ(in.values.size(), 2u);
  EXPECT_EQ(std::get<std::string>(in.values[1]), "Canceled");
}

TEST(RunQueryTest, KeysQuotesParenthesesAndNumbersAsText) {
  const Result<RunQuery> query = ParseRunQuery(
      "(params.--lr = 0.01 or params.--lr like '0.1%') and tags.note != 'it''s' and "
      "metrics.`val loss` <= -1e-3 and name not in ('a')");
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  const auto& parts = query->root.children;
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].kind, Kind::kOr);
  EXPECT_EQ(parts[0].children[0].comparison.key, "--lr");
  // A number compared with text is the text it was written as.
  EXPECT_EQ(std::get<std::string>(parts[0].children[0].comparison.values[0]), "0.01");
  EXPECT_EQ(parts[0].children[1].comparison.op, Op::kLike);
  EXPECT_EQ(std::get<std::string>(parts[1].comparison.values[0]), "it's");
  EXPECT_EQ(parts[2].comparison.key, "val loss");
  EXPECT_EQ(std::get<double>(parts[2].comparison.values[0]), -1e-3);
  EXPECT_EQ(parts[3].comparison.op, Op::kNotIn);
}

TEST(RunQueryTest, RefusalsSayWhereAndWhat) {
  const auto message = [](std::string_view text) {
    const Result<RunQuery> query = ParseRunQuery(text);
    EXPECT_FALSE(query.ok()) << text;
    return query.ok() ? std::string() : std::string(query.status().message());
  };
  EXPECT_EQ(message("params.lr < 0.1"),
            "at 11 ('<'): params.lr is text; compare it with =, !=, like, in or not in "
            "(numbers are compared on metrics.NAME)");
  EXPECT_NE(message("metrics.acc > '0.9'").find("write the number without quotes"),
            std::string::npos);
  EXPECT_NE(message("metrics.acc like 1").find("metrics.acc is a number"), std::string::npos);
  EXPECT_NE(message("owner = 'ana'").find("'owner' is not a field"), std::string::npos);
  EXPECT_NE(message("tags.owner = 'ana").find("no closing quote"), std::string::npos);
  EXPECT_NE(message("tags.owner 'ana'").find("expected an operator"), std::string::npos);
  EXPECT_NE(message("tags.owner = ana").find("'ana' is not a number; quote text"),
            std::string::npos);
  EXPECT_NE(message("status = 'x' and").find("at 17 (the end): expected a field"),
            std::string::npos);
  EXPECT_NE(message("(status = 'x'").find("expected ')'"), std::string::npos);
  EXPECT_NE(message("status = 'x' status").find("expected 'and', 'or' or the end"),
            std::string::npos);
  EXPECT_NE(message("metrics.acc > 1e999").find("not a number"), std::string::npos);
  EXPECT_NE(message("tags. = 'x'").find("a name after 'tags.'"), std::string::npos);
  EXPECT_NE(message(std::string(5000, '(')).find("at most 4096"), std::string::npos);
  EXPECT_NE(message(std::string(20, '(') + "status = 'x'").find("deeper than 16"),
            std::string::npos);
  std::string many = "status = 'x'";
  for (int i = 0; i < 40; ++i) many += " or status = 'x'";
  EXPECT_NE(message(many).find("more than 32 comparisons"), std::string::npos);
  // Bytes that are not UTF-8 never reach the message.
  const std::string bad = message("caf\xe9 = 'x'");
  EXPECT_EQ(bad.find('\xe9'), std::string::npos) << bad;
  EXPECT_FALSE(ParseRunQuery("").ok());
}

}  // namespace
}  // namespace kiln::store
