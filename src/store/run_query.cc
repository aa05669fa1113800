#include "store/run_query.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

namespace kiln::store {
namespace {

using Source = RunQuery::Source;
using Op = RunQuery::Op;
using Node = RunQuery::Node;
using Value = std::variant<std::string, double>;

constexpr std::string_view kAttributes[] = {"id",        "experiment", "name", "status",
                                            "submitter", "target",     "kind", "host"};
constexpr int kMaxDepth = 16;

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
         c == '/' || c == '-';
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "'x'", or "the end" past the text; shown in errors.
std::string Shown(std::string_view text, std::size_t at) {
  if (at >= text.size()) return "the end";
  std::size_t end = at + 1;
  while (end < text.size() && end - at < 12 && IsKeyChar(text[end]) && IsKeyChar(text[at])) ++end;
  std::string shown(text.substr(at, end - at));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return "'" + shown + "'";
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<RunQuery> Parse() {
    if (text_.size() > kMaxRunQueryLength) {
      return InvalidArgumentError(fmt::format("the query is {} bytes; at most {} are read",
                                              text_.size(), kMaxRunQueryLength));
    }
    RunQuery query;
    KILN_ASSIGN_OR_RETURN(query.root, Disjunction(0));
    SkipSpace();
    if (at_ < text_.size()) return Expected("'and', 'or' or the end");
    return query;
  }

 private:
  Result<Node> Disjunction(int depth) {
    return Chain(depth, "or", Node::Kind::kOr, [&] { return Conjunction(depth); });
  }
  Result<Node> Conjunction(int depth) {
    return Chain(depth, "and", Node::Kind::kAnd, [&] { return Term(depth); });
  }

  template <typename Next>
  Result<Node> Chain(int, std::string_view word, Node::Kind kind, Next next) {
    KILN_ASSIGN_OR_RETURN(Node first, next());
    if (!PeekWord(word)) return first;
    Node joined;
    joined.kind = kind;
    joined.children.push_back(std::move(first));
    while (TakeWord(word)) {
      KILN_ASSIGN_OR_RETURN(Node more, next());
      joined.children.push_back(std::move(more));
    }
    return joined;
  }

  Result<Node> Term(int depth) {
    SkipSpace();
    if (Take('(')) {
      if (depth + 1 > kMaxDepth)
        return Error(fmt::format("parentheses nest deeper than {}", kMaxDepth));
      KILN_ASSIGN_OR_RETURN(Node inner, Disjunction(depth + 1));
      SkipSpace();
      if (!Take(')')) return Expected("')'");
      return inner;
    }
    Node node;
    KILN_ASSIGN_OR_RETURN(node.comparison, Comparison());
    if (++comparisons_ > kMaxRunQueryComparisons) {
      return Error(fmt::format("the query has more than {} comparisons", kMaxRunQueryComparisons));
    }
    return node;
  }

  Result<RunQuery::Comparison> Comparison() {
    RunQuery::Comparison comparison;
    SkipSpace();
    const std::size_t field_at = at_;
    KILN_ASSIGN_OR_RETURN(const std::string field, Word());
    if (field.empty()) return Expected("a field: status, tags.KEY, params.NAME, metrics.NAME...");
    const std::string lower = Lower(field);
    for (const auto& [prefix, source] :
         {std::pair{"tags.", Source::kTag}, std::pair{"params.", Source::kParam},
          std::pair{"metrics.", Source::kMetric}}) {
      if (lower.starts_with(prefix)) {
        comparison.source = source;
        comparison.key = field.substr(std::string_view(prefix).size());
      }
    }
    if (comparison.source == Source::kAttribute) {
      comparison.key = lower;
      if (std::find(std::begin(kAttributes), std::end(kAttributes), lower) ==
          std::end(kAttributes)) {
        at_ = field_at;
        return Error(fmt::format(
            "'{}' is not a field; fields are id, experiment, name, status, submitter, target, "
            "kind, host, tags.KEY, params.NAME and metrics.NAME",
            Printable(field)));
      }
    } else if (comparison.key.empty() && !backtick_key_) {
      return Expected(fmt::format("a name after '{}'", Printable(field)));
    }
    SkipSpace();
    const std::size_t op_at = at_;
    KILN_ASSIGN_OR_RETURN(comparison.op, Operator());
    const bool numeric = comparison.source == Source::kMetric;
    const bool ordering = comparison.op == Op::kLt || comparison.op == Op::kLe ||
                          comparison.op == Op::kGt || comparison.op == Op::kGe;
    if (numeric && (comparison.op == Op::kLike)) {
      at_ = op_at;
      return Error(
          fmt::format("metrics.{} is a number; compare it with =, !=, <, <=, >, >=, in "
                      "or not in",
                      Printable(comparison.key)));
    }
    if (!numeric && ordering) {
      at_ = op_at;
      return Error(fmt::format(
          "{} is text; compare it with =, !=, like, in or not in (numbers are compared on "
          "metrics.NAME)",
          Printable(field)));
    }
    if (comparison.op == Op::kIn || comparison.op == Op::kNotIn) {
      SkipSpace();
      if (!Take('(')) return Expected("'(' and a list of values");
      do {
        KILN_ASSIGN_OR_RETURN(auto value, Literal(numeric));
        comparison.values.push_back(std::move(value));
        SkipSpace();
      } while (Take(','));
      if (!Take(')')) return Expected("',' or ')'");
    } else {
      KILN_ASSIGN_OR_RETURN(auto value, Literal(numeric));
      comparison.values.push_back(std::move(value));
    }
    return comparison;
  }

  Result<Op> Operator() {
    for (const auto& [symbol, op] :
         {std::pair{"!=", Op::kNe}, std::pair{"<>", Op::kNe}, std::pair{"<=", Op::kLe},
          std::pair{">=", Op::kGe}, std::pair{"=", Op::kEq}, std::pair{"<", Op::kLt},
          std::pair{">", Op::kGt}}) {
      if (text_.substr(at_).starts_with(symbol)) {
        at_ += std::string_view(symbol).size();
        return op;
      }
    }
    if (TakeWord("like")) return Op::kLike;
    if (TakeWord("in")) return Op::kIn;
    const std::size_t before = at_;
    if (TakeWord("not") && TakeWord("in")) return Op::kNotIn;
    at_ = before;
    return Expected("an operator: =, !=, <, <=, >, >=, like, in or not in");
  }

  Result<Value> Literal(bool numeric) {
    SkipSpace();
    const std::size_t start = at_;
    if (at_ < text_.size() && (text_[at_] == '\'' || text_[at_] == '"')) {
      const char quote = text_[at_++];
      std::string value;
      while (true) {
        if (at_ >= text_.size()) {
          at_ = start;
          return Error("this quoted text has no closing quote");
        }
        if (text_[at_] == quote) {
          if (at_ + 1 < text_.size() && text_[at_ + 1] == quote) {
            value += quote;
            at_ += 2;
            continue;
          }
          ++at_;
          break;
        }
        value += text_[at_++];
      }
      if (numeric) {
        at_ = start;
        return Error("metrics compare numbers: write the number without quotes");
      }
      return Value(std::move(value));
    }
    while (at_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[at_])) ||
                                  text_[at_] == '.' || text_[at_] == '-' || text_[at_] == '+')) {
      ++at_;
    }
    const std::string_view word = text_.substr(start, at_ - start);
    if (word.empty()) return Expected("a value: 'text' or a number");
    double number = 0;
    const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), number);
    if (error != std::errc() || end != word.data() + word.size() || !std::isfinite(number)) {
      at_ = start;
      return Error(
          fmt::format("'{}' is not a number; quote text: '{}'", Printable(word), Printable(word)));
    }
    // Text fields take a number as the text it was written as: params.epochs = 5.
    if (!numeric) return Value(std::string(word));
    return Value(number);
  }

  // A field name: key characters, with one backtick-quoted part after the prefix.
  Result<std::string> Word() {
    backtick_key_ = false;
    std::string word;
    while (at_ < text_.size() && IsKeyChar(text_[at_])) word += text_[at_++];
    if (at_ < text_.size() && text_[at_] == '`') {
      const std::size_t start = at_++;
      const std::size_t close = text_.find('`', at_);
      if (close == std::string_view::npos) {
        at_ = start;
        return Error("this `name` has no closing backtick");
      }
      word += text_.substr(at_, close - at_);
      at_ = close + 1;
      backtick_key_ = true;
    }
    return word;
  }

  bool PeekWord(std::string_view word) {
    const std::size_t before = at_;
    const bool found = TakeWord(word);
    at_ = before;
    return found;
  }
  bool TakeWord(std::string_view word) {
    SkipSpace();
    if (at_ + word.size() > text_.size()) return false;
    if (Lower(text_.substr(at_, word.size())) != word) return false;
    const std::size_t end = at_ + word.size();
    if (end < text_.size() && IsKeyChar(text_[end])) return false;
    at_ = end;
    return true;
  }
  bool Take(char c) {
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void SkipSpace() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }

  static std::string Printable(std::string_view text) {
    std::string out(text.substr(0, 64));
    for (char& c : out) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    return out;
  }

  Status Error(std::string_view problem) const {
    return InvalidArgumentError(fmt::format("at {} ({}): {}", at_ + 1, Shown(text_, at_), problem));
  }
  Status Expected(std::string_view what) const { return Error(fmt::format("expected {}", what)); }

  std::string_view text_;
  std::size_t at_ = 0;
  int comparisons_ = 0;
  bool backtick_key_ = false;
};

}  // namespace

Result<RunQuery> ParseRunQuery(std::string_view text) { return Parser(text).Parse(); }

}  // namespace kiln::store
