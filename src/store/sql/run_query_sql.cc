#include "store/sql/run_query_sql.h"

#include <fmt/format.h>

namespace kiln::store::sql {
namespace {

using Op = RunQuery::Op;
using Source = RunQuery::Source;

std::string_view AttributeColumn(const std::string& name) {
  if (name == "experiment") return "e.name";
  if (name == "name") return "r.display_name";
  if (name == "submitter") return "r.submitted_by";
  if (name == "target") return "r.compute_target";
  if (name == "status") return "r.status";
  if (name == "kind") return "r.kind";
  if (name == "host") return "r.host";
  return "r.id";
}

// `column OP value(s)`, appending the values.
std::string Test(std::string_view column, const RunQuery::Comparison& comparison,
                 SqlCondition& out) {
  const auto placeholders = [&] {
    std::string list;
    for (const auto& value : comparison.values) {
      list += list.empty() ? "?" : ", ?";
      out.values.push_back(value);
    }
    return list;
  };
  switch (comparison.op) {
    case Op::kIn:
      return fmt::format("{} IN ({})", column, placeholders());
    case Op::kNotIn:
      return fmt::format("{} NOT IN ({})", column, placeholders());
    case Op::kLike:
      // lower() on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not;
      // the escape is named, as PostgreSQL has one by default and SQLite none.
      return fmt::format("lower({}) LIKE lower({}) ESCAPE '\\'", column, placeholders());
    case Op::kEq:
      return fmt::format("{} = {}", column, placeholders());
    case Op::kNe:
      return fmt::format("{} <> {}", column, placeholders());
    case Op::kLt:
      return fmt::format("{} < {}", column, placeholders());
    case Op::kLe:
      return fmt::format("{} <= {}", column, placeholders());
    case Op::kGt:
      return fmt::format("{} > {}", column, placeholders());
    case Op::kGe:
      return fmt::format("{} >= {}", column, placeholders());
  }
  return "1 = 0";
}

std::string ComparisonSql(const RunQuery::Comparison& comparison, SqlCondition& out) {
  switch (comparison.source) {
    case Source::kAttribute:
      return Test(AttributeColumn(comparison.key), comparison, out);
    case Source::kTag: {
      out.values.push_back(comparison.key);
      return fmt::format("r.id IN (SELECT run_id FROM run_tags WHERE key = ? AND {})",
                         Test("value", comparison, out));
    }
    case Source::kParam: {
      out.values.push_back(comparison.key);
      // A flag without a value compares as "".
      return fmt::format("r.id IN (SELECT run_id FROM run_params WHERE name = ? AND {})",
                         Test("COALESCE(value, '')", comparison, out));
    }
    case Source::kMetric: {
      out.values.push_back(comparison.key);
      return fmt::format("r.id IN (SELECT run_id FROM metrics WHERE name = ? AND rank = 0 AND {})",
                         Test("last_value", comparison, out));
    }
  }
  return "1 = 0";
}

std::string NodeSql(const RunQuery::Node& node, SqlCondition& out) {
  if (node.kind == RunQuery::Node::Kind::kComparison) return ComparisonSql(node.comparison, out);
  std::string sql;
  for (const RunQuery::Node& child : node.children) {
    if (!sql.empty()) sql += node.kind == RunQuery::Node::Kind::kAnd ? " AND " : " OR ";
    sql += NodeSql(child, out);
  }
  return "(" + sql + ")";
}

}  // namespace

SqlCondition RunQuerySql(const RunQuery& query) {
  SqlCondition out;
  out.sql = NodeSql(query.root, out);
  return out;
}

}  // namespace kiln::store::sql
