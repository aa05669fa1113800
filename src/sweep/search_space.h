#pragma once

// SearchSpace: the hyperparameters a sweep samples, each a ParameterExpression, and the
// points drawn from it.
//
// A parameter's name is the script argument its value is passed as, as HyperDrive's
// parameter_space keys are: {"--lr": uniform(...)} runs the trial with "--lr 0.0123"
// (docs/sweeps.md). Parameters are kept sorted by name, so a point's order and its JSON
// form do not depend on how the space was written.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sweep/parameter_expression.h"
#include "sweep/random_stream.h"

namespace kiln::sweep {

struct Parameter {
  std::string name;
  ParameterExpression expression;
};

// One value per parameter of a space, in the space's order.
using Point = std::vector<nlohmann::json>;

// At most this many parameters in a space.
inline constexpr std::size_t kMaxParameters = 64;

class SearchSpace {
 public:
  // {"--lr": {"type": "uniform", ...}, ...}. InvalidArgument "<where>.<name>: ..." for a bad
  // name or expression; `where` is e.g. "sweep.yaml: search_space".
  static Result<SearchSpace> Parse(const nlohmann::json& object, std::string_view where);
  nlohmann::json ToJson() const;

  const std::vector<Parameter>& parameters() const { return parameters_; }

  // How many distinct points there are; nullopt when a parameter has uncountably many
  // values or the product passes 2^62.
  std::optional<std::uint64_t> Cardinality() const;
  bool IsCategorical() const;  // every parameter is a choice or randint

  Point Sample(RandomStream& random) const;
  // The `index`-th point of the grid of a finite space (each parameter's FiniteValue()),
  // the last parameter varying fastest; index < Cardinality().
  Point GridPoint(std::uint64_t index) const;

  // {"--lr": 0.0123, "--batch-size": 32}.
  nlohmann::json PointToJson(const Point& point) const;
  // The inverse, for points recorded by earlier sweeps (resume_from): InvalidArgument
  // naming the missing parameter or the value this space cannot give.
  Result<Point> PointFromJson(const nlohmann::json& object) const;
  // Text equal for equal points and only for them: the key of duplicate checks.
  static std::string Key(const Point& point);

 private:
  std::vector<Parameter> parameters_;
};

}  // namespace kiln::sweep
