#pragma once

// RandomStream: the sweep's source of randomness, the same on every machine and compiler.
//
// The standard library's distributions are implementation-defined, so the same seed could
// give another sweep after an upgrade. This stream is SplitMix64 (a 64-bit counter through
// a fixed mixing function) with its own uniform and normal transforms. A sampler starts one
// stream per (seed, trial index, attempt), so a trial's point depends on nothing else and a
// restarted driver proposes what the first one would have.

#include <cmath>
#include <cstdint>
#include <numbers>

namespace kiln::sweep {

class RandomStream {
 public:
  explicit RandomStream(std::uint64_t seed) : state_(seed) {}
  RandomStream(std::uint64_t seed, std::uint64_t index, std::uint64_t attempt)
      : state_(Mix(Mix(seed) ^ (index * 0x9e3779b97f4a7c15ULL)) ^ attempt) {}

  std::uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix(state_);
  }
  // Uniform in [0, 1), 53 bits.
  double Uniform01() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double low, double high) { return low + (high - low) * Uniform01(); }
  // Uniform in [0, n); n > 0. The bias of a modulo of 64 bits is below 2^-40 for n < 2^24.
  std::uint64_t Index(std::uint64_t n) { return Next() % n; }
  // Standard normal (Box-Muller; one of the pair is dropped to keep the stream stateless).
  double Normal() {
    double u1 = 1.0 - Uniform01();  // (0, 1]: log(0) is never taken
    double u2 = Uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  static std::uint64_t Mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t state_;
};

}  // namespace kiln::sweep
