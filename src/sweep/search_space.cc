#include "sweep/search_space.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"

namespace kiln::sweep {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxNameBytes = 128;
constexpr std::uint64_t kMaxCardinality = 1ULL << 62;

Status CheckName(const std::string& name, std::string_view where) {
  bool printable = !name.empty() && name.size() <= kMaxNameBytes &&
                   std::all_of(name.begin(), name.end(), [](char c) {
                     return static_cast<unsigned char>(c) > ' ' && c != '\x7f';
                   });
  if (!printable || FirstInvalidUtf8(name).has_value()) {
    return InvalidArgumentError(fmt::format(
        "{}: parameter name {} must be 1 to {} bytes of UTF-8 without spaces or control "
        "characters (it is passed as a script argument, e.g. \"--lr\")",
        where, json(ValidUtf8(name)).dump(), kMaxNameBytes));
  }
  return Status::Ok();
}

}  // namespace

Result<SearchSpace> SearchSpace::Parse(const json& object, std::string_view where) {
  if (!object.is_object() || object.empty()) {
    return InvalidArgumentError(
        fmt::format("{}: must map each parameter to an expression, e.g. {{\"--lr\": {{\"type\": "
                    "\"uniform\", \"min_value\": 0.01, \"max_value\": 0.1}}}}",
                    where));
  }
  if (object.size() > kMaxParameters) {
    return InvalidArgumentError(fmt::format("{}: has {} parameters; at most {} are allowed", where,
                                            object.size(), kMaxParameters));
  }
  SearchSpace space;
  for (const auto& [name, value] : object.items()) {
    KILN_RETURN_IF_ERROR(CheckName(name, where));
    KILN_ASSIGN_OR_RETURN(ParameterExpression expression,
                          ParameterExpression::Parse(value, fmt::format("{}.{}", where, name)));
    space.parameters_.push_back({name, std::move(expression)});
  }
  std::sort(space.parameters_.begin(), space.parameters_.end(),
            [](const Parameter& a, const Parameter& b) { return a.name < b.name; });
  return space;
}

json SearchSpace::ToJson() const {
  json out = json::object();
  for (const Parameter& parameter : parameters_) {
    out[parameter.name] = parameter.expression.ToJson();
  }
  return out;
}

std::optional<std::uint64_t> SearchSpace::Cardinality() const {
  std::uint64_t product = 1;
  for (const Parameter& parameter : parameters_) {
    std::optional<std::uint64_t> count = parameter.expression.Cardinality();
    if (!count) return std::nullopt;
    if (*count != 0 && product > kMaxCardinality / *count) return std::nullopt;
    product *= *count;
  }
  return product;
}

bool SearchSpace::IsCategorical() const {
  return std::all_of(parameters_.begin(), parameters_.end(),
                     [](const Parameter& p) { return p.expression.IsCategorical(); });
}

Point SearchSpace::Sample(RandomStream& random) const {
  Point point;
  point.reserve(parameters_.size());
  for (const Parameter& parameter : parameters_) {
    point.push_back(parameter.expression.Sample(random));
  }
  return point;
}

Point SearchSpace::GridPoint(std::uint64_t index) const {
  Point point(parameters_.size());
  for (std::size_t i = parameters_.size(); i-- > 0;) {
    const ParameterExpression& expression = parameters_[i].expression;
    std::uint64_t count = expression.Cardinality().value_or(0);
    KILN_CHECK(count > 0);
    point[i] = expression.FiniteValue(index % count);
    index /= count;
  }
  return point;
}

json SearchSpace::PointToJson(const Point& point) const {
  KILN_CHECK(point.size() == parameters_.size());
  json out = json::object();
  for (std::size_t i = 0; i < point.size(); ++i) out[parameters_[i].name] = point[i];
  return out;
}

Result<Point> SearchSpace::PointFromJson(const json& object) const {
  if (!object.is_object()) {
    return InvalidArgumentError(
        fmt::format("a trial's parameters must be an object, got {}", object.dump()));
  }
  Point point;
  for (const Parameter& parameter : parameters_) {
    auto it = object.find(parameter.name);
    if (it == object.end()) {
      return InvalidArgumentError(
          fmt::format("the trial has no value for parameter '{}'", parameter.name));
    }
    const ParameterExpression& expression = parameter.expression;
    bool fits = false;
    if (expression.IsCategorical()) {
      fits = expression.IndexOfValue(*it).has_value();
    } else {
      fits = expression.Contains(*it);
    }
    if (!fits) {
      return InvalidArgumentError(fmt::format("the trial's {} = {} is not a value of {}",
                                              parameter.name, it->dump(),
                                              expression.ToJson().dump()));
    }
    point.push_back(*it);
  }
  return point;
}

std::string SearchSpace::Key(const Point& point) { return json(point).dump(); }

}  // namespace kiln::sweep
