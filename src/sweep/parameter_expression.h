#pragma once

// ParameterExpression: the distribution of one hyperparameter, with HyperDrive's ten
// expressions and their meaning (docs/sweeps.md):
//
//   choice(values)              one of the values (numbers or strings)
//   randint(upper)              an integer in [0, upper)
//   uniform(min, max)           a float in [min, max]
//   quniform(min, max, q)       round(uniform(min, max) / q) * q
//   loguniform(min, max)        exp(uniform(min, max)): the bounds are exponents
//   qloguniform(min, max, q)    round(exp(uniform(min, max)) / q) * q
//   normal(mu, sigma)           a float from N(mu, sigma^2)
//   qnormal(mu, sigma, q)       round(normal(mu, sigma) / q) * q
//   lognormal(mu, sigma)        exp(normal(mu, sigma))
//   qlognormal(mu, sigma, q)    round(exp(normal(mu, sigma)) / q) * q
//
// A q form gives an integer when q is a whole number (a batch size reaches argparse's
// type=int as "32", not "32.0"), a float otherwise.
//
// Every numeric expression is a latent variable z, uniform on [min, max] or normal, and a
// fixed map from z to the value (identity or exp, then rounding). Samplers that model the
// space (tpe_sampler.h) work on z, where the prior is simple.
//
// The JSON form is an object with a "type" and the fields the expression takes:
//   {"type": "choice", "values": [16, 32, 64]}    {"type": "randint", "upper": 10}
//   {"type": "uniform", "min_value": 0.1, "max_value": 0.5}
//   {"type": "qloguniform", "min_value": 2, "max_value": 6, "q": 8}
//   {"type": "normal", "mu": 0, "sigma": 1}
// Parse() names the field and value of every problem.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sweep/random_stream.h"

namespace kiln::sweep {

enum class ExpressionKind {
  kChoice,
  kRandint,
  kUniform,
  kQUniform,
  kLogUniform,
  kQLogUniform,
  kNormal,
  kQNormal,
  kLogNormal,
  kQLogNormal,
};

std::string_view ExpressionKindName(ExpressionKind kind);

class ParameterExpression {
 public:
  static ParameterExpression Choice(std::vector<nlohmann::json> values);
  static ParameterExpression Randint(std::int64_t upper);
  // uniform, loguniform (q = 0) and their q forms.
  static ParameterExpression Bounded(ExpressionKind kind, double min, double max, double q = 0);
  // normal, lognormal (q = 0) and their q forms.
  static ParameterExpression Gaussian(ExpressionKind kind, double mu, double sigma, double q = 0);

  // The JSON form above. InvalidArgument "<where>: <problem>" (where is e.g.
  // "sweep.yaml: search_space.lr").
  static Result<ParameterExpression> Parse(const nlohmann::json& json, std::string_view where);
  nlohmann::json ToJson() const;

  ExpressionKind kind() const { return kind_; }
  // choice and randint: the values are a finite list, and no order between them is assumed.
  bool IsCategorical() const;
  // How many distinct values there can be: choice's and randint's, or a q form over a
  // bounded z with at most 2^20 steps; nullopt when unbounded or uncountably many.
  std::optional<std::uint64_t> Cardinality() const;
  // When Cardinality() is set, its values are numbered 0..Cardinality()-1: choice's in
  // their order, randint's by themselves, a bounded q form's from its lowest step up.
  // FiniteValue: the i-th (i < Cardinality()). IndexOfValue: the number of `value`, or
  // nullopt when it is not one of them.
  nlohmann::json FiniteValue(std::uint64_t i) const;
  std::optional<std::uint64_t> IndexOfValue(const nlohmann::json& value) const;

  // A value drawn from the prior.
  nlohmann::json Sample(RandomStream& random) const;

  // The latent variable of a numeric expression: its prior and its map to a value.
  bool LatentIsUniform() const;              // [min, max]; otherwise N(mu, sigma)
  double latent_low() const { return a_; }   // min, or mu
  double latent_high() const { return b_; }  // max, or sigma
  nlohmann::json ValueOfLatent(double z) const;
  // Whether `value` is one this expression can give: a number within its bounds (a step of
  // q beyond them for a q form, whose rounding can leave them); any number for a normal.
  bool Contains(const nlohmann::json& value) const;
  // The z that gives `value` (the inverse map, clamped to the latent bounds); nullopt for a
  // value this expression cannot give (a string for a number).
  std::optional<double> LatentOfValue(const nlohmann::json& value) const;

 private:
  ParameterExpression() = default;
  bool IsLog() const;
  // A multiple of q as the value type: an integer when q is whole.
  nlohmann::json Quantized(double value) const;
  // A bounded q form's lowest value.
  double LowestStep() const;

  ExpressionKind kind_ = ExpressionKind::kChoice;
  std::vector<nlohmann::json> values_;  // choice
  double a_ = 0;                        // min, mu; randint: upper
  double b_ = 0;                        // max, sigma
  double q_ = 0;                        // 0 when not a q form
};

}  // namespace kiln::sweep
