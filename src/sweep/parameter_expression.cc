#include "sweep/parameter_expression.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

namespace kiln::sweep {
namespace {

using nlohmann::json;

struct KindInfo {
  ExpressionKind kind;
  std::string_view name;
  std::vector<std::string_view> fields;
};

const std::vector<KindInfo>& Kinds() {
  static const std::vector<KindInfo> kinds = {
      {ExpressionKind::kChoice, "choice", {"values"}},
      {ExpressionKind::kRandint, "randint", {"upper"}},
      {ExpressionKind::kUniform, "uniform", {"min_value", "max_value"}},
      {ExpressionKind::kQUniform, "quniform", {"min_value", "max_value", "q"}},
      {ExpressionKind::kLogUniform, "loguniform", {"min_value", "max_value"}},
      {ExpressionKind::kQLogUniform, "qloguniform", {"min_value", "max_value", "q"}},
      {ExpressionKind::kNormal, "normal", {"mu", "sigma"}},
      {ExpressionKind::kQNormal, "qnormal", {"mu", "sigma", "q"}},
      {ExpressionKind::kLogNormal, "lognormal", {"mu", "sigma"}},
      {ExpressionKind::kQLogNormal, "qlognormal", {"mu", "sigma", "q"}},
  };
  return kinds;
}

const KindInfo& InfoOf(ExpressionKind kind) {
  for (const KindInfo& info : Kinds()) {
    if (info.kind == kind) return info;
  }
  KILN_CHECK(false);
}

std::string KindList() {
  std::string names;
  for (const KindInfo& info : Kinds()) {
    names += names.empty() ? "" : ", ";
    names += info.name;
  }
  return names;
}

bool IsQForm(ExpressionKind kind) {
  return kind == ExpressionKind::kQUniform || kind == ExpressionKind::kQLogUniform ||
         kind == ExpressionKind::kQNormal || kind == ExpressionKind::kQLogNormal;
}

// How far past mu a normal latent is taken to reach, for the checks of its spread.
constexpr double kSigmas = 6;
// exp() of more than this overflows a double.
constexpr double kMaxExponent = 700;
// A q form over bounded z with fewer steps than this counts as finite (Cardinality()).
constexpr double kMaxCountableSteps = 1 << 20;

bool IsWhole(double q) { return std::floor(q) == q && std::fabs(q) < 0x1.0p53; }

Result<double> NumberField(const json& object, std::string_view field, std::string_view kind,
                           std::string_view where) {
  auto it = object.find(std::string(field));
  if (it == object.end()) {
    return InvalidArgumentError(fmt::format("{}: {} needs \"{}\" (a number)", where, kind, field));
  }
  if (!it->is_number()) {
    return InvalidArgumentError(
        fmt::format("{}.{}: must be a number, got {}", where, field, it->dump()));
  }
  double value = it->get<double>();
  if (!std::isfinite(value)) {
    return InvalidArgumentError(fmt::format("{}.{}: must be finite", where, field));
  }
  return value;
}

Status CheckChoiceValues(const json& values, std::string_view where) {
  if (!values.is_array() || values.empty()) {
    return InvalidArgumentError(fmt::format(
        "{}.values: must be a non-empty list of numbers or strings, got {}", where, values.dump()));
  }
  int strings = 0;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const json& value = values[i];
    if (!value.is_number() && !value.is_string()) {
      return InvalidArgumentError(fmt::format("{}.values[{}]: must be a number or a string, got {}",
                                              where, i, value.dump()));
    }
    if (value.is_number_float() && !std::isfinite(value.get<double>())) {
      return InvalidArgumentError(fmt::format("{}.values[{}]: must be finite", where, i));
    }
    strings += value.is_string() ? 1 : 0;
    if (!seen.insert(value.dump()).second) {
      return InvalidArgumentError(fmt::format(
          "{}.values[{}]: {} is listed twice; list each value once", where, i, value.dump()));
    }
  }
  if (strings != 0 && strings != static_cast<int>(values.size())) {
    return InvalidArgumentError(
        fmt::format("{}.values: mixes strings and numbers; give all as strings or none", where));
  }
  return Status::Ok();
}

}  // namespace

std::string_view ExpressionKindName(ExpressionKind kind) { return InfoOf(kind).name; }

ParameterExpression ParameterExpression::Choice(std::vector<json> values) {
  ParameterExpression expression;
  expression.kind_ = ExpressionKind::kChoice;
  expression.values_ = std::move(values);
  return expression;
}

ParameterExpression ParameterExpression::Randint(std::int64_t upper) {
  ParameterExpression expression;
  expression.kind_ = ExpressionKind::kRandint;
  expression.a_ = static_cast<double>(upper);
  return expression;
}

ParameterExpression ParameterExpression::Bounded(ExpressionKind kind, double min, double max,
                                                 double q) {
  ParameterExpression expression;
  expression.kind_ = kind;
  expression.a_ = min;
  expression.b_ = max;
  expression.q_ = q;
  return expression;
}

ParameterExpression ParameterExpression::Gaussian(ExpressionKind kind, double mu, double sigma,
                                                  double q) {
  return Bounded(kind, mu, sigma, q);
}

Result<ParameterExpression> ParameterExpression::Parse(const json& object, std::string_view where) {
  if (!object.is_object() || !object.contains("type") || !object["type"].is_string()) {
    return InvalidArgumentError(fmt::format("{}: must be an object with a \"type\" ({}), got {}",
                                            where, KindList(), object.dump()));
  }
  std::string type = object["type"].get<std::string>();
  const KindInfo* info = nullptr;
  for (const KindInfo& candidate : Kinds()) {
    if (candidate.name == type) info = &candidate;
  }
  if (info == nullptr) {
    return InvalidArgumentError(
        fmt::format("{}.type: unknown expression '{}'; use one of {}", where, type, KindList()));
  }
  for (const auto& [key, value] : object.items()) {
    if (key == "type") continue;
    if (std::find(info->fields.begin(), info->fields.end(), key) == info->fields.end()) {
      return InvalidArgumentError(fmt::format("{}: {} takes no field \"{}\"; its fields are {}",
                                              where, type, key, fmt::join(info->fields, ", ")));
    }
  }

  switch (info->kind) {
    case ExpressionKind::kChoice: {
      json values = object.value("values", json());
      KILN_RETURN_IF_ERROR(CheckChoiceValues(values, where));
      return Choice(values.get<std::vector<json>>());
    }
    case ExpressionKind::kRandint: {
      KILN_ASSIGN_OR_RETURN(double upper, NumberField(object, "upper", type, where));
      if (upper < 1 || !IsWhole(upper)) {
        return InvalidArgumentError(
            fmt::format("{}.upper: must be a whole number >= 1, got {}", where, upper));
      }
      return Randint(static_cast<std::int64_t>(upper));
    }
    default:
      break;
  }

  bool bounded = info->fields[0] == "min_value";
  KILN_ASSIGN_OR_RETURN(double a, NumberField(object, info->fields[0], type, where));
  KILN_ASSIGN_OR_RETURN(double b, NumberField(object, info->fields[1], type, where));
  double q = 0;
  if (IsQForm(info->kind)) {
    KILN_ASSIGN_OR_RETURN(q, NumberField(object, "q", type, where));
    if (q <= 0) return InvalidArgumentError(fmt::format("{}.q: must be > 0, got {}", where, q));
  }
  if (bounded && !(a < b)) {
    return InvalidArgumentError(
        fmt::format("{}: {} needs min_value < max_value, got {} and {}", where, type, a, b));
  }
  if (!bounded && !(b > 0)) {
    return InvalidArgumentError(fmt::format("{}.sigma: must be > 0, got {}", where, b));
  }
  // Draws must stay finite: a range or spread past what a double holds gives inf or NaN.
  const double reach = bounded ? b - a : std::fabs(a) + kSigmas * b;
  if (!std::isfinite(reach) || (q > 0 && !std::isfinite(reach / q))) {
    return InvalidArgumentError(
        fmt::format("{}: {} spans more than a double can hold ({} to {}{}); narrow it", where, type,
                    a, b, q > 0 ? fmt::format(" in steps of {}", q) : std::string()));
  }
  ParameterExpression expression = Bounded(info->kind, a, b, q);
  if (expression.IsLog()) {
    double exponent = bounded ? std::max(std::fabs(a), std::fabs(b)) : std::fabs(a) + kSigmas * b;
    if (exponent > kMaxExponent) {
      return InvalidArgumentError(fmt::format(
          "{}: {} takes exponents (the value is exp of them), and exp({}) overflows; for "
          "values between 1e-4 and 1e-1 write min_value: -9.21, max_value: -2.30",
          where, type, exponent));
    }
  }
  return expression;
}

json ParameterExpression::ToJson() const {
  const KindInfo& info = InfoOf(kind_);
  json out = {{"type", info.name}};
  switch (kind_) {
    case ExpressionKind::kChoice:
      out["values"] = values_;
      return out;
    case ExpressionKind::kRandint:
      out["upper"] = static_cast<std::int64_t>(a_);
      return out;
    default:
      out[std::string(info.fields[0])] = a_;
      out[std::string(info.fields[1])] = b_;
      if (q_ > 0) out["q"] = q_;
      return out;
  }
}

bool ParameterExpression::IsCategorical() const {
  return kind_ == ExpressionKind::kChoice || kind_ == ExpressionKind::kRandint;
}

std::optional<std::uint64_t> ParameterExpression::Cardinality() const {
  if (kind_ == ExpressionKind::kChoice) return values_.size();
  if (kind_ == ExpressionKind::kRandint) return static_cast<std::uint64_t>(a_);
  if (q_ <= 0 || !LatentIsUniform()) return std::nullopt;
  double steps = std::round((ValueOfLatent(b_).get<double>() - LowestStep()) / q_);
  if (steps >= kMaxCountableSteps) return std::nullopt;
  return static_cast<std::uint64_t>(steps) + 1;
}

json ParameterExpression::FiniteValue(std::uint64_t i) const {
  switch (kind_) {
    case ExpressionKind::kChoice:
      return values_[i];
    case ExpressionKind::kRandint:
      return static_cast<std::int64_t>(i);
    default:
      return Quantized(LowestStep() + static_cast<double>(i) * q_);
  }
}

std::optional<std::uint64_t> ParameterExpression::IndexOfValue(const json& value) const {
  std::optional<std::uint64_t> count = Cardinality();
  if (!count) return std::nullopt;
  if (kind_ == ExpressionKind::kChoice) {
    auto it = std::find(values_.begin(), values_.end(), value);
    if (it == values_.end()) return std::nullopt;
    return static_cast<std::uint64_t>(it - values_.begin());
  }
  if (!value.is_number()) return std::nullopt;
  double step = q_ > 0 ? q_ : 1;
  double position = (value.get<double>() - (q_ > 0 ? LowestStep() : 0)) / step;
  double rounded = std::round(position);
  if (std::fabs(position - rounded) > 1e-6 || rounded < 0 ||
      rounded >= static_cast<double>(*count)) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(rounded);
}

double ParameterExpression::LowestStep() const { return ValueOfLatent(a_).get<double>(); }

json ParameterExpression::Sample(RandomStream& random) const {
  switch (kind_) {
    case ExpressionKind::kChoice:
      return values_[random.Index(values_.size())];
    case ExpressionKind::kRandint:
      return static_cast<std::int64_t>(random.Index(static_cast<std::uint64_t>(a_)));
    default:
      break;
  }
  double z = LatentIsUniform() ? random.Uniform(a_, b_) : a_ + b_ * random.Normal();
  if (LatentIsUniform()) z = std::min(z, b_);
  return ValueOfLatent(z);
}

bool ParameterExpression::LatentIsUniform() const {
  return kind_ == ExpressionKind::kUniform || kind_ == ExpressionKind::kQUniform ||
         kind_ == ExpressionKind::kLogUniform || kind_ == ExpressionKind::kQLogUniform;
}

bool ParameterExpression::IsLog() const {
  return kind_ == ExpressionKind::kLogUniform || kind_ == ExpressionKind::kQLogUniform ||
         kind_ == ExpressionKind::kLogNormal || kind_ == ExpressionKind::kQLogNormal;
}

json ParameterExpression::ValueOfLatent(double z) const {
  double value = IsLog() ? std::exp(z) : z;
  if (q_ <= 0) return value;
  return Quantized(std::round(value / q_) * q_);
}

json ParameterExpression::Quantized(double value) const {
  if (IsWhole(q_) && std::fabs(value) < 0x1.0p53) return std::llround(value);
  return value;
}

bool ParameterExpression::Contains(const json& value) const {
  if (IsCategorical()) return IndexOfValue(value).has_value();
  if (!value.is_number() || !std::isfinite(value.get<double>())) return false;
  if (!LatentIsUniform()) return !IsLog() || value.get<double>() >= 0;
  const double v = value.get<double>();
  const double low = IsLog() ? std::exp(a_) : a_;
  const double high = IsLog() ? std::exp(b_) : b_;
  return v >= low - q_ && v <= high + q_;
}

std::optional<double> ParameterExpression::LatentOfValue(const json& value) const {
  if (!value.is_number()) return std::nullopt;
  double v = value.get<double>();
  double z = v;
  if (IsLog()) z = v > 0 ? std::log(v) : (LatentIsUniform() ? a_ : a_ - 4 * b_);
  if (LatentIsUniform()) z = std::clamp(z, a_, b_);
  return z;
}

}  // namespace kiln::sweep
