#include "sweep/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace kiln::sweep {
namespace {

using nlohmann::json;

SearchSpace Space(const char* text) {
  Result<SearchSpace> space = SearchSpace::Parse(json::parse(text), "search_space");
  EXPECT_TRUE(space.ok()) << space.status().ToString();
  return std::move(space).value();
}

// Runs `count` trials one after another, each finishing with objective(point).
template <typename Objective>
std::vector<TrialRecord> RunSequentially(Sampler& sampler, int count, Objective objective) {
  std::vector<TrialRecord> trials;
  for (int i = 0; i < count; ++i) {
    std::optional<Point> point = sampler.Propose(static_cast<std::uint64_t>(i), trials);
    if (!point) break;
    trials.push_back({*point, objective(*point), true});
  }
  return trials;
}

const char* kMixedSpace = R"({
  "--lr": {"type": "loguniform", "min_value": -9, "max_value": -1},
  "--batch": {"type": "choice", "values": [16, 32, 64]},
  "--dropout": {"type": "uniform", "min_value": 0, "max_value": 0.5}
})";

TEST(RandomSamplerTest, TheSameSeedGivesTheSameTrials) {
  SearchSpace space = Space(kMixedSpace);
  auto points = [&](std::uint64_t seed) {
    std::unique_ptr<Sampler> sampler =
        MakeSampler(space, {SamplingKind::kRandom, seed}, Goal::kMaximize);
    std::vector<std::string> keys;
    for (const TrialRecord& trial :
         RunSequentially(*sampler, 20, [](const Point&) { return 0.0; })) {
      keys.push_back(SearchSpace::Key(trial.point));
    }
    return keys;
  };
  EXPECT_EQ(points(7), points(7));
  EXPECT_NE(points(7), points(8));
}

TEST(RandomSamplerTest, ProposesEachPointOfAFiniteSpaceOnceThenStops) {
  SearchSpace space = Space(R"({"--a": {"type": "choice", "values": [1, 2, 3]},
                                "--b": {"type": "randint", "upper": 3}})");
  std::unique_ptr<Sampler> sampler =
      MakeSampler(space, {SamplingKind::kRandom, 1}, Goal::kMaximize);
  std::vector<TrialRecord> trials =
      RunSequentially(*sampler, 100, [](const Point&) { return 0.0; });
  ASSERT_EQ(trials.size(), 9u);
  std::set<std::string> keys;
  for (const TrialRecord& trial : trials) keys.insert(SearchSpace::Key(trial.point));
  EXPECT_EQ(keys.size(), 9u);
}

TEST(GridSamplerTest, WalksEveryPointOnceInOrder) {
  SearchSpace space = Space(R"({"--a": {"type": "choice", "values": ["x", "y"]},
                                "--b": {"type": "quniform", "min_value": 0, "max_value": 4, "q": 2}})");
  ASSERT_TRUE(CheckSpaceFor(space, SamplingKind::kGrid, "search_space").ok());
  std::unique_ptr<Sampler> sampler = MakeSampler(space, {SamplingKind::kGrid}, Goal::kMaximize);
  std::vector<TrialRecord> trials =
      RunSequentially(*sampler, 100, [](const Point&) { return 0.0; });
  std::vector<std::string> keys;
  for (const TrialRecord& trial : trials) keys.push_back(SearchSpace::Key(trial.point));
  EXPECT_EQ(keys, (std::vector<std::string>{R"(["x",0])", R"(["x",2])", R"(["x",4])", R"(["y",0])",
                                            R"(["y",2])", R"(["y",4])"}));
}

TEST(GridSamplerTest, SkipsPointsEarlierSweepsRan) {
  SearchSpace space = Space(R"({"--a": {"type": "choice", "values": [1, 2, 3]}})");
  std::unique_ptr<Sampler> sampler = MakeSampler(space, {SamplingKind::kGrid}, Goal::kMaximize);
  std::vector<TrialRecord> earlier = {{{json(2)}, 0.5, true}};
  std::optional<Point> first = sampler->Propose(0, earlier);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[0], json(1));
  earlier.push_back({*first, std::nullopt, false});
  std::optional<Point> second = sampler->Propose(1, earlier);
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)[0], json(3));
  earlier.push_back({*second, std::nullopt, false});
  EXPECT_EQ(sampler->Propose(2, earlier), std::nullopt);
}

TEST(SearchSpaceTest, PointsOfEarlierSweepsMustFitThisSpace) {
  SearchSpace space = Space(R"({"--lr": {"type": "loguniform", "min_value": -5, "max_value": -1},
                                "--b": {"type": "choice", "values": [16, 32]}})");
  EXPECT_TRUE(space.PointFromJson(json::parse(R"({"--lr": 0.01, "--b": 32})")).ok());
  Result<Point> outside = space.PointFromJson(json::parse(R"({"--lr": 0.9, "--b": 32})"));
  EXPECT_EQ(outside.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(space.PointFromJson(json::parse(R"({"--lr": 0.01, "--b": 64})")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(space.PointFromJson(json::parse(R"({"--lr": 0.01})")).status().message(),
            "the trial has no value for parameter '--b'");
}

TEST(GridSamplerTest, RefusesAContinuousParameter) {
  SearchSpace space = Space(R"({"--lr": {"type": "uniform", "min_value": 0, "max_value": 1}})");
  Status status = CheckSpaceFor(space, SamplingKind::kGrid, "sweep.yaml: search_space");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "sweep.yaml: search_space.--lr: grid sampling needs a finite set of values (choice, "
            "randint, or a q form with bounds), got uniform");
}

// A known function of the mixed space, best (0) at lr = e^-5, batch 32, dropout 0.1.
double Known(const Point& point) {
  double batch = point[0].get<double>();
  double dropout = point[1].get<double>();
  double log_lr = std::log(point[2].get<double>());
  return -std::pow(log_lr + 5, 2) / 4 - std::pow(dropout - 0.1, 2) * 20 - (batch == 32 ? 0 : 0.1);
}

TEST(TpeSamplerTest, FindsABetterPointThanRandomOnTheSameBudget) {
  SearchSpace space = Space(kMixedSpace);
  constexpr int kBudget = 40;
  constexpr int kSeeds = 20;
  double tpe_total = 0;
  double random_total = 0;
  int tpe_wins = 0;
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    auto best = [&](SamplingKind kind) {
      std::unique_ptr<Sampler> sampler = MakeSampler(space, {kind, seed}, Goal::kMaximize);
      double value = -1e9;
      for (const TrialRecord& trial : RunSequentially(*sampler, kBudget, Known)) {
        value = std::max(value, *trial.objective);
      }
      return value;
    };
    double tpe = best(SamplingKind::kBayesian);
    double random = best(SamplingKind::kRandom);
    tpe_total += tpe;
    random_total += random;
    tpe_wins += tpe > random ? 1 : 0;
  }
  EXPECT_GT(tpe_total / kSeeds, random_total / kSeeds);
  // Deterministic for these seeds (13 of 20 at the time of writing); a regression of the model
  // shows as fewer wins.
  EXPECT_GE(tpe_wins, 12) << "TPE won " << tpe_wins << " of " << kSeeds;
}

TEST(TpeSamplerTest, ConcurrentTrialsNeverShareAPoint) {
  SearchSpace space = Space(R"({"--a": {"type": "choice", "values": [1, 2, 3, 4]},
                                "--b": {"type": "choice", "values": ["p", "q"]}})");
  std::unique_ptr<Sampler> sampler =
      MakeSampler(space, {SamplingKind::kBayesian, 3, /*startup_trials=*/2}, Goal::kMinimize);
  std::vector<TrialRecord> trials;
  // Two finish, then six are proposed while none of them has finished.
  for (int i = 0; i < 2; ++i) {
    std::optional<Point> point = sampler->Propose(i, trials);
    ASSERT_TRUE(point);
    trials.push_back({*point, 1.0 * i, true});
  }
  for (int i = 2; i < 8; ++i) {
    std::optional<Point> point = sampler->Propose(i, trials);
    ASSERT_TRUE(point);
    trials.push_back({*point, std::nullopt, false});
  }
  std::set<std::string> keys;
  for (const TrialRecord& trial : trials) keys.insert(SearchSpace::Key(trial.point));
  EXPECT_EQ(keys.size(), 8u);
  EXPECT_EQ(sampler->Propose(8, trials), std::nullopt);
}

TEST(TpeSamplerTest, ModelsEveryExpressionKind) {
  SearchSpace space = Space(R"({
    "a": {"type": "choice", "values": ["x", "y", "z"]},
    "b": {"type": "randint", "upper": 1000000000},
    "c": {"type": "uniform", "min_value": -1, "max_value": 1},
    "d": {"type": "quniform", "min_value": 0, "max_value": 100, "q": 5},
    "e": {"type": "loguniform", "min_value": -5, "max_value": 0},
    "f": {"type": "qloguniform", "min_value": 0, "max_value": 5, "q": 1},
    "g": {"type": "normal", "mu": 3, "sigma": 1},
    "h": {"type": "qnormal", "mu": 50, "sigma": 10, "q": 2},
    "i": {"type": "lognormal", "mu": 0, "sigma": 1},
    "j": {"type": "qlognormal", "mu": 2, "sigma": 0.5, "q": 1}})");
  std::unique_ptr<Sampler> sampler =
      MakeSampler(space, {SamplingKind::kBayesian, 9, 5}, Goal::kMaximize);
  std::vector<TrialRecord> trials = RunSequentially(*sampler, 30, [](const Point& point) {
    return point[2].get<double>() - std::abs(point[6].get<double>() - 3);
  });
  ASSERT_EQ(trials.size(), 30u);
  for (const TrialRecord& trial : trials) {
    Result<Point> again = space.PointFromJson(space.PointToJson(trial.point));
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_GE(trial.point[2].get<double>(), -1);
    EXPECT_LE(trial.point[2].get<double>(), 1);
    EXPECT_TRUE(trial.point[3].is_number_integer());
    EXPECT_EQ(trial.point[3].get<std::int64_t>() % 5, 0);
    EXPECT_GT(trial.point[8].get<double>(), 0);
  }
}

}  // namespace
}  // namespace kiln::sweep
