#pragma once

// A RunQuery as an SQL condition on `runs r JOIN experiments e`, with its values to bind in
// order; the same text for SQLite and PostgreSQL. Each comparison on a tag, param or metric
// is a subquery on the run's rows of that kind, so a run without one matches no comparison
// on it.

#include <string>
#include <variant>
#include <vector>

#include "store/run_query.h"

namespace kiln::store::sql {

struct SqlCondition {
  std::string sql;  // with "?" for each value
  std::vector<std::variant<std::string, double>> values;
};

SqlCondition RunQuerySql(const RunQuery& query);

}  // namespace kiln::store::sql
