#pragma once

// RunQuery: the filter language of `kiln runs --where`, GET /v1/runs?where= and
// Experiment.get_runs(where=...) (docs/runs.md, "Finding runs"):
//
//   query       := disjunction
//   disjunction := conjunction ("or" conjunction)*
//   conjunction := term ("and" term)*
//   term        := "(" query ")" | comparison
//   comparison  := field op literal | field ["not"] "in" "(" literal ("," literal)* ")"
//   field       := attribute | "tags." key | "params." key | "metrics." key
//   attribute   := "id" | "experiment" | "name" | "status" | "submitter" | "target" | "kind"
//                | "host"
//   op          := "=" | "!=" | "<" | "<=" | ">" | ">=" | "like"
//   literal     := 'text' | "text" | number    (a quote inside is doubled: 'it''s')
//   key         := [A-Za-z0-9_.:/-]+ | `any text but a backtick`
//
// Keywords are case-insensitive. Metrics compare numbers (the last value rank 0 logged);
// attributes, tags and params compare text (=, !=, like, in, not in), as the script received
// them. `like` takes % and _ and ignores the case of ASCII letters (PostgreSQL's of other
// letters too). A run without the tag, param or metric matches no comparison on it.

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace kiln::store {

struct RunQuery {
  enum class Source { kAttribute, kTag, kParam, kMetric };
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kLike, kIn, kNotIn };

  struct Comparison {
    Source source = Source::kAttribute;
    std::string key;  // the attribute's name, or the tag, param or metric name
    Op op = Op::kEq;
    std::vector<std::variant<std::string, double>> values;  // one, or several for in
  };
  // A comparison, or an "and"/"or" of two or more nodes.
  struct Node {
    enum class Kind { kComparison, kAnd, kOr } kind = Kind::kComparison;
    Comparison comparison;
    std::vector<Node> children;
  };

  Node root;
};

inline constexpr std::size_t kMaxRunQueryLength = 4096;
inline constexpr int kMaxRunQueryComparisons = 32;

// InvalidArgument naming the character position (1-based) and what was expected there:
// "at 15 ('<'): params.lr is text; compare it with =, !=, like, in or not in".
Result<RunQuery> ParseRunQuery(std::string_view text);

}  // namespace kiln::store
