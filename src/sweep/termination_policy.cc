#include "sweep/termination_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

namespace kiln::sweep {
namespace {

using nlohmann::json;

// `a` and `b` printed with the fewest significant digits (4 at least) that tell them apart,
// so a reason never reads "0.8273 < 0.8273".
std::pair<std::string, std::string> Distinct(double a, double b) {
  for (int digits = 4; digits < 17; ++digits) {
    std::string x = fmt::format("{:.{}g}", a, digits);
    std::string y = fmt::format("{:.{}g}", b, digits);
    if (x != y) return {x, y};
  }
  return {fmt::format("{}", a), fmt::format("{}", b)};
}

std::string Num(double value) { return fmt::format("{:.4g}", value); }

std::string_view WorseSign(Goal goal) { return goal == Goal::kMaximize ? "<" : ">"; }

double MeanUpTo(const std::vector<double>& values, int interval) {
  double sum = 0;
  for (int i = 0; i < interval; ++i) sum += values[i];
  return sum / interval;
}

// The q-th percentile (0..100) of `values` with linear interpolation between order
// statistics, as numpy's default.
double Percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  double position = q / 100.0 * static_cast<double>(values.size() - 1);
  auto below = static_cast<std::size_t>(std::floor(position));
  std::size_t above = std::min(below + 1, values.size() - 1);
  double fraction = position - static_cast<double>(below);
  return values[below] + (values[above] - values[below]) * fraction;
}

std::string Plural(std::size_t count, std::string_view noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

// When HyperDrive's three policies judge: multiples of evaluation_interval that are at least
// delay_evaluation.
struct Schedule {
  int evaluation_interval = 1;
  int delay_evaluation = 0;

  bool Judges(int interval) const {
    return interval % evaluation_interval == 0 && interval >= delay_evaluation;
  }
  void AddTo(json& out) const {
    out["evaluation_interval"] = evaluation_interval;
    out["delay_evaluation"] = delay_evaluation;
  }
};

class BanditPolicy : public TerminationPolicy {
 public:
  BanditPolicy(Schedule schedule, std::optional<double> factor, std::optional<double> amount)
      : schedule_(schedule), factor_(factor), amount_(amount) {}

  std::string_view Name() const override { return "BanditPolicy"; }
  json ToJson() const override {
    json out = {{"type", "bandit"}};
    schedule_.AddTo(out);
    if (factor_) out["slack_factor"] = *factor_;
    if (amount_) out["slack_amount"] = *amount_;
    return out;
  }

  std::optional<std::string> Judge(std::span<const Curve> curves, std::size_t trial, int interval,
                                   Goal goal) const override {
    if (!schedule_.Judges(interval)) return std::nullopt;
    double best = 0;
    std::size_t reached = 0;
    for (const Curve& curve : curves) {
      if (static_cast<int>(curve.values.size()) < interval) continue;
      double value = BestUpTo(curve.values, interval, goal);
      if (reached++ == 0 || Better(goal, value, best)) best = value;
    }
    double mine = BestUpTo(curves[trial].values, interval, goal);
    // The slack widens the allowance away from the best, whatever the best's sign.
    bool maximize = goal == Goal::kMaximize;
    double cut = 0;
    std::string formula;
    if (factor_) {
      bool divide = maximize == (best >= 0);
      cut = divide ? best / (1 + *factor_) : best * (1 + *factor_);
      formula = fmt::format("{} {} (1 + {})", Num(best), divide ? "/" : "*", Num(*factor_));
    } else {
      cut = maximize ? best - *amount_ : best + *amount_;
      formula = fmt::format("{} {} {}", Num(best), maximize ? "-" : "+", Num(*amount_));
    }
    if (!Better(goal, cut, mine)) return std::nullopt;
    auto [mine_text, cut_text] = Distinct(mine, cut);
    return fmt::format(
        "stopped early by BanditPolicy at interval {}: best {} {} {} = {}, the "
        "sweep's best at interval {} ({} reached it)",
        interval, mine_text, WorseSign(goal), cut_text, formula, interval,
        Plural(reached, "trial"));
  }

 private:
  Schedule schedule_;
  std::optional<double> factor_;
  std::optional<double> amount_;
};

class MedianStoppingPolicy : public TerminationPolicy {
 public:
  explicit MedianStoppingPolicy(Schedule schedule) : schedule_(schedule) {}

  std::string_view Name() const override { return "MedianStoppingPolicy"; }
  json ToJson() const override {
    json out = {{"type", "median_stopping"}};
    schedule_.AddTo(out);
    return out;
  }

  std::optional<std::string> Judge(std::span<const Curve> curves, std::size_t trial, int interval,
                                   Goal goal) const override {
    if (!schedule_.Judges(interval)) return std::nullopt;
    std::vector<double> averages;
    for (std::size_t i = 0; i < curves.size(); ++i) {
      if (i == trial || static_cast<int>(curves[i].values.size()) < interval) continue;
      averages.push_back(MeanUpTo(curves[i].values, interval));
    }
    if (averages.empty()) return std::nullopt;
    double median = Percentile(averages, 50);
    double mine = BestUpTo(curves[trial].values, interval, goal);
    if (!Better(goal, median, mine)) return std::nullopt;
    auto [mine_text, median_text] = Distinct(mine, median);
    return fmt::format(
        "stopped early by MedianStoppingPolicy at interval {}: best {} {} {}, the median of "
        "{}' running averages over intervals 1-{}",
        interval, mine_text, WorseSign(goal), median_text, Plural(averages.size(), "other trial"),
        interval);
  }

 private:
  Schedule schedule_;
};

class TruncationSelectionPolicy : public TerminationPolicy {
 public:
  TruncationSelectionPolicy(Schedule schedule, int percentage)
      : schedule_(schedule), percentage_(percentage) {}

  std::string_view Name() const override { return "TruncationSelectionPolicy"; }
  json ToJson() const override {
    json out = {{"type", "truncation_selection"}, {"truncation_percentage", percentage_}};
    schedule_.AddTo(out);
    return out;
  }

  std::optional<std::string> Judge(std::span<const Curve> curves, std::size_t trial, int interval,
                                   Goal goal) const override {
    if (!schedule_.Judges(interval)) return std::nullopt;
    std::vector<double> bests;
    for (const Curve& curve : curves) {
      if (static_cast<int>(curve.values.size()) >= interval) {
        bests.push_back(BestUpTo(curve.values, interval, goal));
      }
    }
    std::size_t cut = bests.size() * static_cast<std::size_t>(percentage_) / 100;
    if (cut == 0) return std::nullopt;
    // Worst first: the first `cut` go, the one at `cut` is the worst kept.
    std::sort(bests.begin(), bests.end(),
              [goal](double a, double b) { return Better(goal, b, a); });
    double worst_kept = bests[cut];
    double mine = BestUpTo(curves[trial].values, interval, goal);
    if (!Better(goal, worst_kept, mine)) return std::nullopt;
    auto [mine_text, kept_text] = Distinct(mine, worst_kept);
    return fmt::format(
        "stopped early by TruncationSelectionPolicy at interval {}: best {} is in the worst "
        "{}% of the {} that reached interval {} ({} cut), {} {}, the worst kept",
        interval, mine_text, percentage_, Plural(bests.size(), "trial"), interval, cut,
        WorseSign(goal), kept_text);
  }

 private:
  Schedule schedule_;
  int percentage_;
};

class AshaPolicy : public TerminationPolicy {
 public:
  AshaPolicy(int grace_period, int reduction_factor, int max_intervals)
      : grace_period_(grace_period),
        reduction_factor_(reduction_factor),
        max_intervals_(max_intervals) {}

  std::string_view Name() const override { return "AshaPolicy"; }
  json ToJson() const override {
    return {{"type", "asha"},
            {"grace_period", grace_period_},
            {"reduction_factor", reduction_factor_},
            {"max_intervals", max_intervals_}};
  }

  std::optional<std::string> Judge(std::span<const Curve> curves, std::size_t trial, int interval,
                                   Goal goal) const override {
    std::optional<int> rung = RungAt(interval);
    if (!rung) return std::nullopt;
    std::vector<double> others;
    for (std::size_t i = 0; i < curves.size(); ++i) {
      if (i == trial || static_cast<int>(curves[i].values.size()) < interval) continue;
      others.push_back(curves[i].values[interval - 1]);
    }
    if (others.empty()) return std::nullopt;
    // The top 1/eta of the others: the (1 - 1/eta) percentile when larger is better.
    double keep = 100.0 * (1.0 - 1.0 / reduction_factor_);
    double cutoff =
        goal == Goal::kMaximize ? Percentile(others, keep) : Percentile(others, 100.0 - keep);
    double mine = curves[trial].values[interval - 1];
    if (!Better(goal, cutoff, mine)) return std::nullopt;
    auto [mine_text, cutoff_text] = Distinct(mine, cutoff);
    return fmt::format(
        "stopped early by AshaPolicy at rung {} (interval {}): value {} {} {}, the top 1/{} "
        "cut-off of {}' values at interval {}",
        *rung, interval, mine_text, WorseSign(goal), cutoff_text, reduction_factor_,
        Plural(others.size(), "other trial"), interval);
  }

 private:
  // The rung (0-based) whose milestone is `interval`, if one is.
  std::optional<int> RungAt(int interval) const {
    std::int64_t milestone = grace_period_;
    for (int rung = 0; milestone <= interval; ++rung) {
      if (max_intervals_ > 0 && milestone >= max_intervals_) return std::nullopt;
      if (milestone == interval) return rung;
      milestone *= reduction_factor_;
    }
    return std::nullopt;
  }

  int grace_period_;
  int reduction_factor_;
  int max_intervals_;  // 0: no bound
};

class NoTerminationPolicy : public TerminationPolicy {
 public:
  std::string_view Name() const override { return "NoTerminationPolicy"; }
  json ToJson() const override { return {{"type", "none"}}; }
  std::optional<std::string> Judge(std::span<const Curve>, std::size_t, int, Goal) const override {
    return std::nullopt;
  }
};

// Reads the fields of one policy object, checking names and ranges.
class Fields {
 public:
  Fields(const json& object, std::string_view where, std::string_view type)
      : object_(object), where_(where), type_(type) {}

  Result<std::optional<double>> Number(std::string_view field, double minimum, bool integer) {
    used_.insert(std::string(field));
    auto it = object_.find(std::string(field));
    if (it == object_.end() || it->is_null()) return std::optional<double>();
    bool whole = it->is_number_integer() ||
                 (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>());
    if (!it->is_number() || !std::isfinite(it->get<double>()) || (integer && !whole)) {
      return InvalidArgumentError(fmt::format("{}.{}: must be {}, got {}", where_, field,
                                              integer ? "a whole number" : "a number", it->dump()));
    }
    double value = it->get<double>();
    if (value < minimum || (integer && value > kMaxWhole)) {
      return InvalidArgumentError(
          fmt::format("{}.{}: must be {} {}, got {}", where_, field, ">=", minimum, it->dump()));
    }
    return std::optional<double>(value);
  }

  Result<int> Whole(std::string_view field, int minimum, int fallback) {
    KILN_ASSIGN_OR_RETURN(std::optional<double> value, Number(field, minimum, true));
    return value ? static_cast<int>(*value) : fallback;
  }

  // InvalidArgument for a field the type does not take.
  Status CheckNoOthers() const {
    for (const auto& [key, value] : object_.items()) {
      if (key != "type" && !used_.contains(key)) {
        return InvalidArgumentError(
            fmt::format("{}: the {} policy takes no field \"{}\"; its "
                        "fields are {}",
                        where_, type_, key, fmt::join(used_, ", ")));
      }
    }
    return Status::Ok();
  }

 private:
  static constexpr double kMaxWhole = 1 << 30;

  const json& object_;
  std::string where_;
  std::string type_;
  std::set<std::string> used_;
};

Result<Schedule> ReadSchedule(Fields& fields) {
  Schedule schedule;
  KILN_ASSIGN_OR_RETURN(schedule.evaluation_interval, fields.Whole("evaluation_interval", 1, 1));
  KILN_ASSIGN_OR_RETURN(schedule.delay_evaluation, fields.Whole("delay_evaluation", 0, 0));
  return schedule;
}

constexpr std::string_view kTypes = "bandit, median_stopping, truncation_selection, asha, none";

}  // namespace

double BestUpTo(const std::vector<double>& values, int interval, Goal goal) {
  double best = values[0];
  for (int i = 1; i < interval; ++i) {
    if (Better(goal, values[i], best)) best = values[i];
  }
  return best;
}

Result<std::unique_ptr<TerminationPolicy>> TerminationPolicy::Parse(const json& object,
                                                                    std::string_view where) {
  if (!object.is_object() || !object.contains("type") || !object["type"].is_string()) {
    return InvalidArgumentError(fmt::format("{}: must be an object with a \"type\" ({}), got {}",
                                            where, kTypes, object.dump()));
  }
  std::string type = object["type"].get<std::string>();
  Fields fields(object, where, type);
  std::unique_ptr<TerminationPolicy> policy;
  if (type == "bandit") {
    KILN_ASSIGN_OR_RETURN(Schedule schedule, ReadSchedule(fields));
    KILN_ASSIGN_OR_RETURN(std::optional<double> factor, fields.Number("slack_factor", 0, false));
    KILN_ASSIGN_OR_RETURN(std::optional<double> amount, fields.Number("slack_amount", 0, false));
    if (factor.has_value() == amount.has_value()) {
      return InvalidArgumentError(fmt::format(
          "{}: the bandit policy needs exactly one of slack_factor and slack_amount", where));
    }
    policy = std::make_unique<BanditPolicy>(schedule, factor, amount);
  } else if (type == "median_stopping") {
    KILN_ASSIGN_OR_RETURN(Schedule schedule, ReadSchedule(fields));
    policy = std::make_unique<MedianStoppingPolicy>(schedule);
  } else if (type == "truncation_selection") {
    KILN_ASSIGN_OR_RETURN(Schedule schedule, ReadSchedule(fields));
    KILN_ASSIGN_OR_RETURN(std::optional<double> percentage,
                          fields.Number("truncation_percentage", 1, true));
    if (!percentage || *percentage > 99) {
      return InvalidArgumentError(fmt::format(
          "{}.truncation_percentage: must be a whole number from 1 to 99{}", where,
          percentage ? fmt::format(", got {}", *percentage) : std::string(" (it is required)")));
    }
    policy = std::make_unique<TruncationSelectionPolicy>(schedule, static_cast<int>(*percentage));
  } else if (type == "asha") {
    KILN_ASSIGN_OR_RETURN(int grace_period, fields.Whole("grace_period", 1, 1));
    KILN_ASSIGN_OR_RETURN(int reduction_factor, fields.Whole("reduction_factor", 2, 3));
    KILN_ASSIGN_OR_RETURN(int max_intervals, fields.Whole("max_intervals", 0, 0));
    if (max_intervals != 0 && max_intervals <= grace_period) {
      return InvalidArgumentError(
          fmt::format("{}.max_intervals: must be above grace_period ({}) or 0 for no bound, got {}",
                      where, grace_period, max_intervals));
    }
    policy = std::make_unique<AshaPolicy>(grace_period, reduction_factor, max_intervals);
  } else if (type == "none") {
    policy = std::make_unique<NoTerminationPolicy>();
  } else {
    return InvalidArgumentError(
        fmt::format("{}.type: unknown policy '{}'; use one of {}", where, type, kTypes));
  }
  KILN_RETURN_IF_ERROR(fields.CheckNoOthers());
  return policy;
}

Judgement JudgeNewIntervals(const TerminationPolicy& policy, std::span<const Curve> curves,
                            std::size_t trial, int judged_through, Goal goal) {
  Judgement judgement{judged_through, std::nullopt, {}};
  int logged = static_cast<int>(curves[trial].values.size());
  for (int interval = judged_through + 1; interval <= logged; ++interval) {
    judgement.judged_through = interval;
    std::optional<std::string> reason = policy.Judge(curves, trial, interval, goal);
    if (reason) {
      judgement.stopped_at = interval;
      judgement.reason = std::move(*reason);
      break;
    }
  }
  return judgement;
}

}  // namespace kiln::sweep
