#include "env/environment_cache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/files.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"

namespace kiln::env {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kReadyFile = "kiln-environment.json";
constexpr size_t kErrorLines = 12;

std::string CurrentPath() {
  const char* path = std::getenv("PATH");
  return path != nullptr ? path : "";
}

// What a build says, line by line: to the caller's sink, and kept for the failure's text
// and <hash>.failed.log. The credentials of URLs (an index URL with a password or a token)
// are redacted from every line first.
class BuildLog {
 public:
  explicit BuildLog(const LineSink& sink) : sink_(sink) {}

  void Line(std::string_view raw) {
    const std::string line = RedactUrlCredentials(raw);
    if (sink_) sink_(line);
    transcript_.append(line).append("\n");
  }
  // Bytes of a child's output: whole lines go out, a partial one waits for the rest.
  void Output(std::string_view bytes) {
    pending_.append(bytes);
    size_t newline = 0;
    while ((newline = pending_.find('\n')) != std::string::npos) {
      Line(std::string_view(pending_).substr(0, newline));
      pending_.erase(0, newline + 1);
    }
  }
  void Flush() {
    if (!pending_.empty()) Line(pending_);
    pending_.clear();
  }
  const std::string& transcript() const { return transcript_; }

  // The last lines since `from` (a transcript size), for the run's failure.
  std::string LastLines(size_t from) const {
    std::vector<std::string> lines;
    for (const std::string& line : SplitString(transcript_.substr(from), '\n')) {
      if (!line.empty()) lines.push_back(line);
    }
    const size_t first = lines.size() > kErrorLines ? lines.size() - kErrorLines : 0;
    return JoinStrings(
        std::vector<std::string>(lines.begin() + static_cast<long>(first), lines.end()), "\n");
  }

 private:
  const LineSink& sink_;
  std::string transcript_;
  std::string pending_;
};

// Holds <hash>.lock while alive.
class BuildLock {
 public:
  // Takes the lock, waiting for whoever holds it (and saying so in the log).
  static Result<BuildLock> Take(const fs::path& path, BuildLog& log, const std::string& hash) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return ErrnoError(fmt::format("cannot open {}", path.string()), errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return ErrnoError(fmt::format("flock {}", path.string()), errno);
      log.Line(fmt::format("kiln: waiting for another run's build of environment {}",
                           hash.substr(0, 12)));
      while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return ErrnoError(fmt::format("flock {}", path.string()), errno);
      }
    }
    return BuildLock(std::move(fd));
  }
  // Nullopt when someone else holds it (`mode` LOCK_EX or LOCK_SH).
  static Result<std::optional<BuildLock>> TryTake(const fs::path& path, int mode = LOCK_EX) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return ErrnoError(fmt::format("cannot open {}", path.string()), errno);
    if (::flock(fd.get(), mode | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return std::optional<BuildLock>();
      return ErrnoError(fmt::format("flock {}", path.string()), errno);
    }
    return std::optional<BuildLock>(BuildLock(std::move(fd)));
  }

  UniqueFd Release() { return std::move(fd_); }

 private:
  explicit BuildLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// The shared lock a run holds on <hash>.use. Taken under the build lock, which prune takes
// first too, so prune cannot slip between a reuse and this.
Result<UniqueFd> MarkInUse(const fs::path& path) {
  KILN_ASSIGN_OR_RETURN(std::optional<BuildLock> shared, BuildLock::TryTake(path, LOCK_SH));
  if (!shared) return InternalError(fmt::format("{} is locked for removal", path.string()));
  return shared->Release();
}

// Runs one build step, its output going to the log as it comes.
Status Step(const std::vector<std::string>& argv, BuildLog& log,
            const std::function<bool()>& cancelled) {
  log.Line(fmt::format("kiln: $ {}", JoinStrings(argv, " ")));
  KILN_ASSIGN_OR_RETURN(auto pipe, MakePipe());
  SpawnOptions options;
  options.argv = argv;
  options.stdout_fd = pipe.second.get();
  options.stderr_fd = pipe.second.get();
  options.new_process_group = true;
  // A build runs code of the packages it installs (setup.py): it gets no Kiln variable
  // (the launcher's store access, a token) and none of PostgreSQL's (a password).
  std::vector<std::string> env = CurrentEnvironment();
  std::erase_if(env, [](const std::string& entry) {
    return entry.starts_with("KILN_") || entry.starts_with("PG");
  });
  // pip must not ask anything, nor look for a newer pip on an index it may not reach.
  env.push_back("PIP_NO_INPUT=1");
  env.push_back("PIP_DISABLE_PIP_VERSION_CHECK=1");
  options.env = std::move(env);
  Result<Subprocess> child = RealSpawner().Spawn(options);
  pipe.second.reset();
  if (!child.ok()) return child.status().WithPrefix(argv[0]);
  char buffer[8192];
  auto next_check = std::chrono::steady_clock::now();
  while (true) {
    pollfd readable{pipe.first.get(), POLLIN, 0};
    const int ready = ::poll(&readable, 1, 200);
    if (ready < 0 && errno != EINTR) return ErrnoError("poll", errno);
    if (ready > 0) {
      const ssize_t n = ::read(pipe.first.get(), buffer, sizeof(buffer));
      if (n < 0 && errno != EINTR && errno != EAGAIN) return ErrnoError("read", errno);
      if (n == 0) break;  // the step (and anything it started) closed its output
      if (n > 0) log.Output(std::string_view(buffer, static_cast<size_t>(n)));
    }
    if (cancelled && std::chrono::steady_clock::now() >= next_check) {
      next_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      if (!cancelled()) continue;
      ::kill(-child->pid(), SIGKILL);  // the step and whatever it started
      child->Wait().status().IgnoreError();
      return CancelledError("the run was canceled while its environment was being built");
    }
  }
  log.Flush();
  KILN_ASSIGN_OR_RETURN(const ExitStatus exit, child->Wait());
  if (!exit.success()) {
    return InternalError(
        fmt::format("'{}' {}", RedactUrlCredentials(JoinStrings(argv, " ")), exit.Describe()));
  }
  return Status::Ok();
}

std::vector<std::string> PipInstall(const fs::path& python, const EnvironmentSpec& spec) {
  std::vector<std::string> argv = {python.string(), "-m", "pip", "install"};
  if (!spec.pip_index_url.empty()) {
    argv.insert(argv.end(), {"--index-url", spec.pip_index_url});
  } else if (!spec.pip_find_links.empty()) {
    argv.push_back("--no-index");
  }
  for (const std::string& link : spec.pip_find_links)
    argv.insert(argv.end(), {"--find-links", link});
  argv.insert(argv.end(), spec.pip_packages.begin(), spec.pip_packages.end());
  return argv;
}

Status Build(const EnvironmentSpec& spec, const fs::path& dir, BuildLog& log,
             const std::function<bool()>& cancelled) {
  if (!spec.conda_packages.empty()) {
    const fs::path tool = FindCondaTool(CurrentPath());
    std::vector<std::string> argv = {tool.string(), "create", "--yes", "--prefix", dir.string()};
    const bool has_python =
        std::any_of(spec.conda_packages.begin(), spec.conda_packages.end(),
                    [](const std::string& p) { return p == "python" || p.starts_with("python="); });
    if (!has_python && !spec.pip_packages.empty()) argv.push_back("python");
    argv.insert(argv.end(), spec.conda_packages.begin(), spec.conda_packages.end());
    KILN_RETURN_IF_ERROR(Step(argv, log, cancelled));
  } else {
    std::vector<std::string> argv = {spec.python, "-m", "venv"};
    if (spec.system_site_packages) argv.push_back("--system-site-packages");
    argv.push_back(dir.string());
    KILN_RETURN_IF_ERROR(Step(argv, log, cancelled));
  }
  if (!spec.pip_packages.empty()) {
    KILN_RETURN_IF_ERROR(Step(PipInstall(dir / "bin" / "python", spec), log, cancelled));
  }
  return Status::Ok();
}

std::string Describe(const EnvironmentSpec& spec) {
  std::vector<std::string> parts;
  if (!spec.pip_packages.empty()) parts.push_back("pip: " + JoinStrings(spec.pip_packages, ", "));
  if (!spec.conda_packages.empty()) {
    parts.push_back("conda: " + JoinStrings(spec.conda_packages, ", "));
  }
  return JoinStrings(parts, "; ");
}

}  // namespace

fs::path FindCondaTool(std::string_view search_path) {
  for (const char* tool : {"mamba", "micromamba", "conda"}) {
    fs::path found = FindInPath(tool, search_path);
    if (!found.empty()) return found;
  }
  return {};
}

Status CheckBuildable(const EnvironmentSpec& spec) {
  if (spec.conda_packages.empty() || !FindCondaTool(CurrentPath()).empty()) return Status::Ok();
  return FailedPreconditionError(fmt::format(
      "conda_packages ({}) need conda, mamba or micromamba, and none is on PATH; install one "
      "of them, or take the packages from pip_packages",
      JoinStrings(spec.conda_packages, ", ")));
}

Result<ReadyEnvironment> EnvironmentCache::Ensure(const EnvironmentSpec& spec, const LineSink& sink,
                                                  const std::function<bool()>& cancelled) {
  KILN_RETURN_IF_ERROR(CheckBuildable(spec));
  KILN_RETURN_IF_ERROR(CreateDirectories(root_));
  ReadyEnvironment ready;
  ready.hash = EnvironmentHash(spec);
  ready.root = root_ / ready.hash;
  ready.python = ready.root / "bin" / "python";
  const fs::path marker = ready.root / kReadyFile;
  BuildLog log(sink);
  KILN_ASSIGN_OR_RETURN(BuildLock lock,
                        BuildLock::Take(root_ / (ready.hash + ".lock"), log, ready.hash));
  std::error_code error;
  if (fs::exists(marker, error)) {
    fs::last_write_time(marker, fs::file_time_type::clock::now(), error);  // used now
    KILN_ASSIGN_OR_RETURN(ready.in_use, MarkInUse(root_ / (ready.hash + ".use")));
    log.Line(fmt::format("kiln: environment {} is built already ({})", ready.hash.substr(0, 12),
                         ready.root.string()));
    return ready;
  }
  KILN_RETURN_IF_ERROR(RemoveTree(ready.root));  // a build that died half-way
  const size_t from = log.transcript().size();
  log.Line(fmt::format("kiln: building environment {} ({}) in {}", ready.hash.substr(0, 12),
                       Describe(spec), ready.root.string()));
  if (Status built = Build(spec, ready.root, log, cancelled); !built.ok()) {
    RemoveTree(ready.root).IgnoreError();
    if (built.code() == StatusCode::kCancelled) return built;
    const fs::path failed = root_ / (ready.hash + ".failed.log");
    WriteFileAtomically(failed, log.transcript()).IgnoreError();
    return FailedPreconditionError(fmt::format(
        "building environment {} failed: {}\nits output ends:\n{}\n(the whole output: {})",
        ready.hash.substr(0, 12), built.message(), log.LastLines(from), failed.string()));
  }
  nlohmann::json record = {{"hash", ready.hash}, {"definition", EnvironmentToJson(spec)}};
  KILN_RETURN_IF_ERROR(WriteFileAtomically(marker, record.dump(2) + "\n"));
  KILN_ASSIGN_OR_RETURN(ready.in_use, MarkInUse(root_ / (ready.hash + ".use")));
  log.Line(fmt::format("kiln: environment {} is ready", ready.hash.substr(0, 12)));
  ready.built = true;
  return ready;
}

Result<std::vector<EnvironmentCache::Entry>> EnvironmentCache::List() const {
  std::vector<Entry> entries;
  std::error_code error;
  if (!fs::exists(root_, error)) return entries;
  for (const fs::directory_entry& item : fs::directory_iterator(root_, error)) {
    const fs::path marker = item.path() / kReadyFile;
    if (!item.is_directory(error) || !fs::exists(marker, error)) continue;
    KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(marker));
    const nlohmann::json record = nlohmann::json::parse(text, nullptr, false);
    if (record.is_discarded() || !record.contains("definition")) {
      return DataLossError(fmt::format("{} is not an environment record", marker.string()));
    }
    KILN_ASSIGN_OR_RETURN(EnvironmentSpec spec, EnvironmentFromJson(record["definition"]));
    entries.push_back(
        {item.path().filename().string(), std::move(spec), fs::last_write_time(marker, error)});
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.last_used > b.last_used; });
  return entries;
}

Result<std::vector<std::string>> EnvironmentCache::Prune(std::chrono::seconds unused_for,
                                                         const std::set<std::string>& keep,
                                                         bool dry_run) {
  KILN_ASSIGN_OR_RETURN(const std::vector<Entry> entries, List());
  const auto now = fs::file_time_type::clock::now();
  std::vector<std::string> removed;
  for (const Entry& entry : entries) {
    if (now - entry.last_used < unused_for || keep.contains(entry.hash)) continue;
    // The lock files stay: a run waiting on one must find the same file a later one takes.
    KILN_ASSIGN_OR_RETURN(std::optional<BuildLock> building,
                          BuildLock::TryTake(root_ / (entry.hash + ".lock")));
    if (!building) continue;
    KILN_ASSIGN_OR_RETURN(std::optional<BuildLock> unused,
                          BuildLock::TryTake(root_ / (entry.hash + ".use")));
    if (!unused) continue;  // a run still uses it
    std::error_code error;
    const auto used = fs::last_write_time(root_ / entry.hash / kReadyFile, error);
    if (error || now - used < unused_for) continue;  // used since List() looked
    if (!dry_run) KILN_RETURN_IF_ERROR(RemoveTree(root_ / entry.hash));
    removed.push_back(entry.hash);
  }
  return removed;
}

}  // namespace kiln::env
