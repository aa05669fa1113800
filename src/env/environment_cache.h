#pragma once

// The environments built for jobs, one folder per hash under $KILN_HOME/envs/:
//
//   envs/<hash>/               the environment (a virtual environment; bin/python)
//   envs/<hash>/kiln-environment.json
//                              written last: the build is complete; its mtime is when a run
//                              last used it (for prune)
//   envs/<hash>.lock           flock'ed (exclusive) while a build or a reuse decides
//   envs/<hash>.use            flock'ed (shared) by every run using the environment, so
//                              prune never removes one in use
//   envs/<hash>.failed.log     the output of the last failed build
//
// Ensure() builds an environment once, however many runs ask for it at the same time:
// the first takes the lock and builds, the others wait on the lock and then find it built.
// A folder without kiln-environment.json is a build that died half-way and is removed
// before building again, so no run ever uses one.
//
// Building: `<python> -m venv [--system-site-packages]`, then `bin/python -m pip install`
// with the spec's index and find-links. conda packages need conda, mamba or micromamba on
// PATH (`create --prefix`, then pip on top); without one, Ensure fails naming the packages.

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "env/environment_spec.h"

namespace kiln::env {

struct ReadyEnvironment {
  std::string hash;
  std::filesystem::path root;    // envs/<hash>
  std::filesystem::path python;  // envs/<hash>/bin/python
  bool built = false;            // false: an earlier build was reused
  UniqueFd in_use;               // the shared lock on <hash>.use: keep it for the run's life
};

// The conda-like tool on `search_path` (PATH's syntax): mamba, micromamba or conda; empty
// when there is none.
std::filesystem::path FindCondaTool(std::string_view search_path);

// FailedPrecondition naming the tool and the packages when conda packages are asked for and
// no tool is on PATH; Ok otherwise.
Status CheckBuildable(const EnvironmentSpec& spec);

using LineSink = std::function<void(std::string_view line)>;

class EnvironmentCache {
 public:
  explicit EnvironmentCache(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }

  // The built environment for `spec`, building it first when needed. What the build says
  // (its commands and their output, a line on waiting for another run's build, or that it
  // was built already) goes to `sink` a line at a time, as it comes. A failed build leaves
  // no folder behind, keeps its output in <hash>.failed.log, and fails with the last lines
  // of pip's or conda's error. `cancelled` is asked every fraction of a second while a step
  // runs; when it says true the step is killed and Ensure fails with Cancelled.
  Result<ReadyEnvironment> Ensure(const EnvironmentSpec& spec, const LineSink& sink,
                                  const std::function<bool()>& cancelled = nullptr);

  struct Entry {
    std::string hash;
    EnvironmentSpec spec;
    std::filesystem::file_time_type last_used;
  };
  // Complete environments, most recently used first.
  Result<std::vector<Entry>> List() const;
  // Removes environments no run has used for `unused_for`, but those in `keep`; returns
  // their hashes. One that a build or a run start holds the lock of is left alone. With
  // `dry_run`, only says which it would remove.
  Result<std::vector<std::string>> Prune(std::chrono::seconds unused_for,
                                         const std::set<std::string>& keep = {},
                                         bool dry_run = false);

 private:
  std::filesystem::path root_;
};

}  // namespace kiln::env
