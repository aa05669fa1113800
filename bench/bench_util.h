#pragma once

// Helpers shared by the benchmarks: timing a command, medians, a scratch KILN_HOME.
// Benchmarks print figures; they assert nothing about speed (the machines are shared).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/subprocess.h"
#include "common/test_dir.h"

namespace kiln::bench {

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Runs the command to its end and returns its wall time in milliseconds; exits the
// benchmark when the command fails, printing its output.
inline double TimeCommand(const SpawnOptions& options,
                          std::chrono::seconds timeout = std::chrono::seconds(600)) {
  const auto start = std::chrono::steady_clock::now();
  const Result<CapturedRun> run = RunAndCapture(options, timeout);
  const auto end = std::chrono::steady_clock::now();
  if (!run.ok() || !run->exit.success()) {
    std::fprintf(stderr, "benchmark command %s failed: %s\n%s%s\n", options.argv[0].c_str(),
                 run.ok() ? run->exit.Describe().c_str() : run.status().ToString().c_str(),
                 run.ok() ? run->out.c_str() : "", run.ok() ? run->err.c_str() : "");
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// Writes `bytes` that no other file has (a xorshift stream seeded by `seed`) to `path`.
inline bool WriteDistinctFile(const std::filesystem::path& path, std::size_t bytes,
                              std::uint64_t seed) {
  std::string data(bytes, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&data[i], &x, 8);
  }
  return WriteFileAtomically(path, data).ok();
}

// The environment for kiln commands of a benchmark, with its own KILN_HOME.
inline std::vector<std::string> KilnEnvironment(const std::filesystem::path& home,
                                                const std::vector<std::string>& extra = {}) {
  std::vector<std::string> env;
  for (const std::string& entry : CurrentEnvironment()) {
    if (!entry.starts_with("KILN_")) env.push_back(entry);
  }
  env.push_back("KILN_HOME=" + home.string());
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

}  // namespace kiln::bench
