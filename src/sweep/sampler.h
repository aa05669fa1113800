#pragma once

// Sampler: proposes the point of a sweep's next trial.
//
// Every sampler is a function of (its settings, the trial's index, the trials proposed so
// far): what it keeps (the grid's position) is a cache of what the trials say, so a driver
// that restarts from the store proposes what the first one would have. A point is stored
// with its trial before the trial starts.
//
// No sampler proposes a point equal to one already in `trials`, running or finished: a
// grid walks its points once, and random and Bayesian sampling draw again (up to a bound,
// then from the points left of a finite space). Propose() returns nullopt when the space
// has no point left: a finite space walked to its end, or 4096 draws of an unbounded
// discrete one (qnormal) that found nothing new.
//
// Samplers are not thread-safe; the sweep driver owns one.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "common/result.h"
#include "sweep/objective.h"
#include "sweep/search_space.h"

namespace kiln::sweep {

// What a sampler knows of a trial proposed earlier.
struct TrialRecord {
  Point point;
  // The best value of the primary metric the trial logged (by the sweep's goal); nullopt
  // while it has logged none, or when it never did.
  std::optional<double> objective;
  bool finished = false;  // it ended (any way); running trials have no final objective
};

enum class SamplingKind { kRandom, kGrid, kBayesian };
std::string_view SamplingKindName(SamplingKind kind);  // "random", "grid", "bayesian"

struct SamplingSettings {
  SamplingKind kind = SamplingKind::kRandom;
  std::uint64_t seed = 0;
  // Bayesian: trials drawn at random before the model is used.
  int startup_trials = 10;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The point of trial `index` (0-based, counted over this sweep's trials).
  virtual std::optional<Point> Propose(std::uint64_t index,
                                       std::span<const TrialRecord> trials) = 0;
};

// `space` must suit `settings.kind` (CheckSpaceFor()).
std::unique_ptr<Sampler> MakeSampler(const SearchSpace& space, const SamplingSettings& settings,
                                     Goal goal);

// InvalidArgument "<where>: ..." when `space` cannot be sampled that way: a grid of a
// space with a continuous parameter.
Status CheckSpaceFor(const SearchSpace& space, SamplingKind kind, std::string_view where);

// Draws a point of `space` not in `taken` (keys of SearchSpace::Key): `attempts` draws of
// the streams (seed, index, 0..), then a walk of a finite space's grid from a random start;
// nullopt when none is left. Shared by the samplers.
std::optional<Point> DrawUnseen(const SearchSpace& space, std::uint64_t seed, std::uint64_t index,
                                int attempts, const std::set<std::string>& taken);

}  // namespace kiln::sweep
