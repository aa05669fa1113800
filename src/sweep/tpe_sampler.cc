#include "sweep/tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>

namespace kiln::sweep {
namespace {

using nlohmann::json;

constexpr int kCandidates = 24;
constexpr double kPriorWeight = 1.0;
constexpr int kMaxGoodTrials = 25;
// Proposals drawn from the model before a duplicate-free random draw is taken instead.
constexpr int kModelAttempts = 8;
constexpr int kFallbackAttempts = 64;
// Stream attempts of the model's draws start here, apart from the random draws'.
constexpr std::uint64_t kModelStream = 1 << 20;
// A normal latent's range for bandwidths: mu +- this many sigmas.
constexpr double kNormalReach = 3;

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

// A Parzen density over one numeric latent: a Gaussian per observation and one for the
// prior, equally weighted, truncated to [low, high] when the latent is bounded.
class ParzenDensity {
 public:
  ParzenDensity(const ParameterExpression& expression, const std::vector<double>& observed)
      : bounded_(expression.LatentIsUniform()) {
    double prior_mu = 0;
    double prior_sigma = 0;
    if (bounded_) {
      low_ = expression.latent_low();
      high_ = expression.latent_high();
      prior_mu = 0.5 * (low_ + high_);
      prior_sigma = high_ - low_;
    } else {
      prior_mu = expression.latent_low();
      prior_sigma = expression.latent_high();
      low_ = prior_mu - kNormalReach * prior_sigma;
      high_ = prior_mu + kNormalReach * prior_sigma;
    }
    // Bandwidths: each observation's larger gap to its neighbours (the range's ends at the
    // edges), clipped to [range / min(100, n + 1), range].
    std::vector<double> sorted = observed;
    std::sort(sorted.begin(), sorted.end());
    double range = high_ - low_;
    double min_sigma = range / std::min(100.0, static_cast<double>(sorted.size()) + 1);
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      double left = sorted[i] - (i == 0 ? low_ : sorted[i - 1]);
      double right = (i + 1 == sorted.size() ? high_ : sorted[i + 1]) - sorted[i];
      double sigma = std::clamp(std::max(left, right), min_sigma, range);
      components_.push_back({sorted[i], sigma});
    }
    components_.push_back({prior_mu, prior_sigma});
  }

  double Sample(RandomStream& random) const {
    const Component& c = components_[random.Index(components_.size())];
    constexpr int kTries = 64;
    for (int i = 0; i < kTries; ++i) {
      double z = c.mu + c.sigma * random.Normal();
      if (!bounded_ || (z >= low_ && z <= high_)) return z;
    }
    return std::clamp(c.mu, low_, high_);
  }

  double LogDensity(double z) const {
    double sum = 0;
    for (const Component& c : components_) {
      double u = (z - c.mu) / c.sigma;
      double density = std::exp(-0.5 * u * u) / (c.sigma * std::sqrt(2 * std::numbers::pi));
      if (bounded_) {
        double mass = NormalCdf((high_ - c.mu) / c.sigma) - NormalCdf((low_ - c.mu) / c.sigma);
        density /= std::max(mass, 1e-12);
      }
      sum += density;
    }
    return std::log(std::max(sum / static_cast<double>(components_.size()), 1e-300));
  }

 private:
  struct Component {
    double mu;
    double sigma;
  };
  bool bounded_;
  double low_ = 0;
  double high_ = 0;
  std::vector<Component> components_;
};

// A categorical density: each observation's category, smoothed by a uniform prior.
class CategoricalDensity {
 public:
  CategoricalDensity(std::uint64_t categories, const std::vector<std::uint64_t>& observed)
      : categories_(categories), total_(static_cast<double>(observed.size()) + kPriorWeight) {
    for (std::uint64_t c : observed) ++counts_[c];
    observed_ = observed;
  }

  std::uint64_t Sample(RandomStream& random) const {
    double pick = random.Uniform01() * total_;
    if (pick < static_cast<double>(observed_.size())) {
      return observed_[static_cast<std::size_t>(pick)];
    }
    return random.Index(categories_);
  }

  double LogDensity(std::uint64_t c) const {
    auto it = counts_.find(c);
    double count = it == counts_.end() ? 0 : static_cast<double>(it->second);
    return std::log((count + kPriorWeight / static_cast<double>(categories_)) / total_);
  }

 private:
  std::uint64_t categories_;
  double total_;
  std::vector<std::uint64_t> observed_;
  std::map<std::uint64_t, int> counts_;
};

}  // namespace

std::optional<Point> TpeSampler::Propose(std::uint64_t index, std::span<const TrialRecord> trials) {
  std::set<std::string> taken;
  for (const TrialRecord& trial : trials) taken.insert(SearchSpace::Key(trial.point));

  // Losses, lower is better; a running trial is the constant liar's +infinity.
  struct Observation {
    const Point* point;
    double loss;
  };
  std::vector<Observation> observations;
  int finished = 0;
  for (const TrialRecord& trial : trials) {
    if (trial.finished) {
      if (!trial.objective) continue;  // failed or logged nothing: says nothing of the point
      ++finished;
      double loss = goal_ == Goal::kMaximize ? -*trial.objective : *trial.objective;
      observations.push_back({&trial.point, loss});
    } else {
      observations.push_back({&trial.point, std::numeric_limits<double>::infinity()});
    }
  }
  if (finished < std::max(1, settings_.startup_trials)) {
    return DrawUnseen(space_, settings_.seed, index, kFallbackAttempts, taken);
  }
  std::stable_sort(observations.begin(), observations.end(),
                   [](const Observation& a, const Observation& b) { return a.loss < b.loss; });
  auto good_count = static_cast<std::size_t>(std::clamp((finished + 9) / 10, 1, kMaxGoodTrials));

  const std::vector<Parameter>& parameters = space_.parameters();
  for (int attempt = 0; attempt < kModelAttempts; ++attempt) {
    RandomStream random(settings_.seed, index, kModelStream + static_cast<std::uint64_t>(attempt));
    Point point;
    for (std::size_t p = 0; p < parameters.size(); ++p) {
      const ParameterExpression& expression = parameters[p].expression;
      if (expression.IsCategorical()) {
        std::uint64_t categories = expression.Cardinality().value_or(1);
        std::vector<std::uint64_t> good;
        std::vector<std::uint64_t> bad;
        for (std::size_t i = 0; i < observations.size(); ++i) {
          std::optional<std::uint64_t> c = expression.IndexOfValue((*observations[i].point)[p]);
          if (c) (i < good_count ? good : bad).push_back(*c);
        }
        CategoricalDensity l(categories, good);
        CategoricalDensity g(categories, bad);
        std::uint64_t best = 0;
        double best_score = -std::numeric_limits<double>::infinity();
        for (int k = 0; k < kCandidates; ++k) {
          std::uint64_t c = l.Sample(random);
          double score = l.LogDensity(c) - g.LogDensity(c);
          if (score > best_score) best = c, best_score = score;
        }
        point.push_back(expression.FiniteValue(best));
      } else {
        std::vector<double> good;
        std::vector<double> bad;
        for (std::size_t i = 0; i < observations.size(); ++i) {
          std::optional<double> z = expression.LatentOfValue((*observations[i].point)[p]);
          if (z) (i < good_count ? good : bad).push_back(*z);
        }
        ParzenDensity l(expression, good);
        ParzenDensity g(expression, bad);
        double best = 0;
        double best_score = -std::numeric_limits<double>::infinity();
        for (int k = 0; k < kCandidates; ++k) {
          double z = l.Sample(random);
          double score = l.LogDensity(z) - g.LogDensity(z);
          if (score > best_score) best = z, best_score = score;
        }
        point.push_back(expression.ValueOfLatent(best));
      }
    }
    if (!taken.contains(SearchSpace::Key(point))) return point;
  }
  return DrawUnseen(space_, settings_.seed, index, kFallbackAttempts, taken);
}

}  // namespace kiln::sweep
