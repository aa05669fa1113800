#include "sweep/sampler.h"

#include <fmt/format.h>

#include "sweep/tpe_sampler.h"

namespace kiln::sweep {
namespace {

// Draws before a random sampler gives up on finding an unseen point by chance.
constexpr int kRandomAttempts = 64;
// A finite space up to this size is walked for a point left when chance fails.
constexpr std::uint64_t kMaxWalkedPoints = 1 << 20;
// Draws in all for a space too large to walk before it counts as exhausted.
constexpr int kUnwalkedAttempts = 4096;

std::set<std::string> TakenKeys(std::span<const TrialRecord> trials) {
  std::set<std::string> taken;
  for (const TrialRecord& trial : trials) taken.insert(SearchSpace::Key(trial.point));
  return taken;
}

class RandomSampler : public Sampler {
 public:
  RandomSampler(const SearchSpace& space, std::uint64_t seed) : space_(space), seed_(seed) {}

  std::optional<Point> Propose(std::uint64_t index, std::span<const TrialRecord> trials) override {
    return DrawUnseen(space_, seed_, index, kRandomAttempts, TakenKeys(trials));
  }

 private:
  const SearchSpace& space_;
  std::uint64_t seed_;
};

// Walks the grid in order and proposes its first point no trial has, so a grid resumed from
// earlier sweeps, or run again after a crash, never repeats one.
class GridSampler : public Sampler {
 public:
  explicit GridSampler(const SearchSpace& space) : space_(space) {}

  std::optional<Point> Propose(std::uint64_t, std::span<const TrialRecord> trials) override {
    std::set<std::string> taken = TakenKeys(trials);
    std::uint64_t size = space_.Cardinality().value_or(0);
    for (; next_ < size; ++next_) {
      Point point = space_.GridPoint(next_);
      if (!taken.contains(SearchSpace::Key(point))) return point;
    }
    return std::nullopt;
  }

 private:
  const SearchSpace& space_;
  // Points before it are taken: trials are only ever added, so the walk never goes back.
  std::uint64_t next_ = 0;
};

}  // namespace

std::string_view SamplingKindName(SamplingKind kind) {
  switch (kind) {
    case SamplingKind::kRandom:
      return "random";
    case SamplingKind::kGrid:
      return "grid";
    case SamplingKind::kBayesian:
      return "bayesian";
  }
  return "?";
}

std::optional<Point> DrawUnseen(const SearchSpace& space, std::uint64_t seed, std::uint64_t index,
                                int attempts, const std::set<std::string>& taken) {
  for (int attempt = 0; attempt < attempts; ++attempt) {
    RandomStream random(seed, index, static_cast<std::uint64_t>(attempt));
    Point point = space.Sample(random);
    if (!taken.contains(SearchSpace::Key(point))) return point;
  }
  std::optional<std::uint64_t> size = space.Cardinality();
  if (!size || *size > kMaxWalkedPoints) {
    // A space too large to walk, yet chance failed: a discrete one (qnormal) is exhausted
    // where its prior puts its weight. Try its tails a while longer.
    for (int attempt = attempts; attempt < kUnwalkedAttempts; ++attempt) {
      RandomStream random(seed, index, static_cast<std::uint64_t>(attempt));
      Point point = space.Sample(random);
      if (!taken.contains(SearchSpace::Key(point))) return point;
    }
    return std::nullopt;
  }
  RandomStream random(seed, index, static_cast<std::uint64_t>(attempts));
  std::uint64_t start = random.Index(*size);
  for (std::uint64_t i = 0; i < *size; ++i) {
    Point point = space.GridPoint((start + i) % *size);
    if (!taken.contains(SearchSpace::Key(point))) return point;
  }
  return std::nullopt;
}

Status CheckSpaceFor(const SearchSpace& space, SamplingKind kind, std::string_view where) {
  if (kind != SamplingKind::kGrid) return Status::Ok();
  for (const Parameter& parameter : space.parameters()) {
    if (!parameter.expression.Cardinality()) {
      return InvalidArgumentError(fmt::format(
          "{}.{}: grid sampling needs a finite set of values (choice, randint, or a q form "
          "with bounds), got {}",
          where, parameter.name, ExpressionKindName(parameter.expression.kind())));
    }
  }
  if (!space.Cardinality()) {
    return InvalidArgumentError(
        fmt::format("{}: the grid has more than 2^62 points; sample it at random instead", where));
  }
  return Status::Ok();
}

std::unique_ptr<Sampler> MakeSampler(const SearchSpace& space, const SamplingSettings& settings,
                                     Goal goal) {
  switch (settings.kind) {
    case SamplingKind::kRandom:
      return std::make_unique<RandomSampler>(space, settings.seed);
    case SamplingKind::kGrid:
      return std::make_unique<GridSampler>(space);
    case SamplingKind::kBayesian:
      return std::make_unique<TpeSampler>(space, settings, goal);
  }
  return nullptr;
}

}  // namespace kiln::sweep
