#pragma once

// TpeSampler: Bayesian sampling by the Tree-structured Parzen Estimator (Bergstra et al.,
// NeurIPS 2011), one parameter at a time, as Optuna's default sampler does.
//
// Rationale. TPE models p(x | good) and p(x | bad) instead of p(y | x): it splits the
// finished trials at the best gamma(n) = min(ceil(n / 10), 25) objectives, fits a Parzen
// density (a Gaussian on each observation's latent z, plus the prior) to each side, and
// proposes the candidate, of 24 drawn from the good density, with the largest
// good / bad ratio. It works on every expression kind (choice and randint as categories,
// the rest on their latent z, so loguniform is modelled in its exponent), costs O(n) per
// parameter and candidate, and needs no linear algebra.
//
// Concurrent trials. A running trial is counted as bad with the worst possible objective
// (the "constant liar"), so the next proposal moves away from points still being tried
// instead of piling onto the current favourite; and no proposal equals an existing point
// (sampler.h).
//
// The first `startup_trials` trials (until that many have finished with an objective) are
// drawn at random, seeded like RandomSampler.

#include "sweep/sampler.h"

namespace kiln::sweep {

class TpeSampler : public Sampler {
 public:
  // `space` must outlive the sampler.
  TpeSampler(const SearchSpace& space, const SamplingSettings& settings, Goal goal)
      : space_(space), settings_(settings), goal_(goal) {}

  std::optional<Point> Propose(std::uint64_t index, std::span<const TrialRecord> trials) override;

 private:
  const SearchSpace& space_;
  SamplingSettings settings_;
  Goal goal_;
};

}  // namespace kiln::sweep
