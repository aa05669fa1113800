#include "common/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/strings.h"

extern char** environ;

namespace kiln {
namespace fs = std::filesystem;

namespace {

// What the child reports through the error pipe when it cannot exec.
struct ChildFailure {
  int stage;  // A ChildStage value.
  int error;  // errno
};

enum ChildStage : int { kStageSetup = 1, kStageChdir = 2, kStageExec = 3 };

// Signals whose disposition the parent may have changed; the child gets the defaults.
constexpr int kResetSignals[] = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP,
                                 SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2};

constexpr int kFirstNonStdioFd = 3;

// Writes the failure and ends the child. Async-signal-safe.
[[noreturn]] void FailChild(int error_fd, int stage) {
  const ChildFailure failure{stage, errno};
  [[maybe_unused]] ssize_t ignored = ::write(error_fd, &failure, sizeof(failure));
  ::_exit(127);
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(const SpawnOptions& options, const char* program, char* const* argv,
                            char* const* envp, int error_fd, pid_t parent_pid, int devnull) {
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  for (int signal : kResetSignals) ::signal(signal, SIG_DFL);

  if (options.new_session && !options.detach) {
    if (::setsid() < 0) FailChild(error_fd, kStageSetup);
  } else if (options.new_process_group) {
    if (::setpgid(0, 0) < 0) FailChild(error_fd, kStageSetup);
  }
  if (options.kill_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) FailChild(error_fd, kStageSetup);
    // The parent may have died before prctl took effect.
    if (::getppid() != parent_pid) ::_exit(127);
  }

  const int stdio[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    const int source = stdio[target] >= 0 ? stdio[target] : devnull;
    if (source == target) {
      if (::fcntl(target, F_SETFD, 0) < 0) FailChild(error_fd, kStageSetup);
    } else if (::dup2(source, target) < 0) {
      FailChild(error_fd, kStageSetup);
    }
  }
  // Everything above 2 closes on exec, except what the caller keeps (and the error pipe,
  // already close-on-exec, which tells the parent that exec succeeded by closing).
  if (::close_range(kFirstNonStdioFd, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    FailChild(error_fd, kStageSetup);
  }
  for (int fd : options.keep_fds) {
    if (::fcntl(fd, F_SETFD, 0) < 0) FailChild(error_fd, kStageSetup);
  }
  if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) < 0) {
    FailChild(error_fd, kStageChdir);
  }
  ::execve(program, argv, envp);
  FailChild(error_fd, kStageExec);
}

// Resolves argv[0] the way execvp would, before fork, so the child never searches.
Result<std::string> ResolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty()) return InvalidArgumentError("cannot start a process with an empty program");
  if (name.find('/') != std::string::npos) {
    struct stat info {};
    if (::stat(name.c_str(), &info) != 0) {
      return NotFoundError(fmt::format("program '{}' does not exist", name));
    }
    return name;
  }
  std::string path(FindVariable(env, "PATH").value_or(""));
  if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
  if (fs::path found = FindInPath(name, path); !found.empty()) return found.string();
  return NotFoundError(fmt::format("program '{}' was not found in PATH ({})", name, path));
}

Status FailureToStatus(const ChildFailure& failure, const std::string& program,
                       const fs::path& cwd) {
  const std::string reason = std::strerror(failure.error);
  switch (failure.stage) {
    case kStageChdir:
      return NotFoundError(
          fmt::format("cannot enter working directory {}: {}", cwd.string(), reason));
    case kStageExec:
      if (failure.error == ENOENT) {
        return NotFoundError(fmt::format("cannot execute {}: {}", program, reason));
      }
      if (failure.error == EACCES) {
        return Status(StatusCode::kPermissionDenied,
                      fmt::format("cannot execute {}: {} (is it executable?)", program, reason));
      }
      return InternalError(fmt::format("cannot execute {}: {}", program, reason));
    default:
      return InternalError(fmt::format("cannot set up the process for {}: {}", program, reason));
  }
}

// Reads exactly `size` bytes unless EOF comes first; returns the count read.
ssize_t ReadFully(int fd, void* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, static_cast<char*>(data) + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? n : static_cast<ssize_t>(done);
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

class ForkExecSpawner : public ProcessSpawner {
 public:
  Result<Subprocess> Spawn(const SpawnOptions& options) override {
    const std::vector<std::string> env = options.env ? *options.env : CurrentEnvironment();
    if (options.argv.empty()) return InvalidArgumentError("cannot start a process without argv");
    KILN_ASSIGN_OR_RETURN(const std::string program, ResolveProgram(options.argv[0], env));

    // Everything the child touches is built before fork: it may not allocate.
    std::vector<char*> argv;
    for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
    envp.push_back(nullptr);

    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return ErrnoError("open /dev/null", errno);
    KILN_ASSIGN_OR_RETURN(auto error_pipe, MakePipe());
    std::optional<std::pair<UniqueFd, UniqueFd>> pid_pipe;
    if (options.detach) {
      KILN_ASSIGN_OR_RETURN(pid_pipe, MakePipe());
    }

    const pid_t parent_pid = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return ErrnoError("fork", errno);
    if (pid == 0) {
      const int error_fd = error_pipe.second.get();
      if (!options.detach) {
        ExecChild(options, program.c_str(), argv.data(), envp.data(), error_fd, parent_pid,
                  devnull.get());
      }
      // Detached: this intermediate child starts a session, forks the real child, reports
      // its pid and leaves, so the real child is re-parented and never ours to reap.
      if (::setsid() < 0) FailChild(error_fd, kStageSetup);
      const pid_t grandchild = ::fork();
      if (grandchild < 0) FailChild(error_fd, kStageSetup);
      if (grandchild == 0) {
        ExecChild(options, program.c_str(), argv.data(), envp.data(), error_fd, ::getppid(),
                  devnull.get());
      }
      [[maybe_unused]] ssize_t ignored =
          ::write(pid_pipe->second.get(), &grandchild, sizeof(grandchild));
      ::_exit(0);
    }

    error_pipe.second.reset();
    pid_t child = pid;
    if (options.detach) {
      pid_pipe->second.reset();
      int wait_status = 0;
      while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      pid_t grandchild = -1;
      if (ReadFully(pid_pipe->first.get(), &grandchild, sizeof(grandchild)) !=
          static_cast<ssize_t>(sizeof(grandchild))) {
        grandchild = -1;
      }
      child = grandchild;
    }
    ChildFailure failure{};
    const ssize_t n = ReadFully(error_pipe.first.get(), &failure, sizeof(failure));
    if (n == static_cast<ssize_t>(sizeof(failure))) {
      if (!options.detach) {
        int wait_status = 0;
        while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
        }
      }
      return FailureToStatus(failure, program, options.cwd);
    }
    if (child < 0) return InternalError(fmt::format("could not start {}", program));
    return Subprocess(child);
  }
};

}  // namespace

std::string SignalName(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  if (abbreviation == nullptr) return fmt::format("signal {}", signal);
  return fmt::format("SIG{}", abbreviation);
}

std::string ExitStatus::Describe() const {
  if (signaled) return fmt::format("was killed by {}", SignalName(signal));
  return fmt::format("exited with code {}", code);
}

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  ExitStatus status;
  if (WIFSIGNALED(wait_status)) {
    status.signaled = true;
    status.signal = WTERMSIG(wait_status);
  } else {
    status.code = WEXITSTATUS(wait_status);
  }
  return status;
}

Result<ExitStatus> Subprocess::Wait() {
  int wait_status = 0;
  while (true) {
    const pid_t result = ::waitpid(pid_, &wait_status, 0);
    if (result == pid_) return ExitStatus::FromWaitStatus(wait_status);
    if (result < 0 && errno != EINTR) return ErrnoError(fmt::format("waitpid {}", pid_), errno);
  }
}

Result<std::optional<ExitStatus>> Subprocess::TryWait() {
  int wait_status = 0;
  while (true) {
    const pid_t result = ::waitpid(pid_, &wait_status, WNOHANG);
    if (result == 0) return std::optional<ExitStatus>();
    if (result == pid_) return std::optional<ExitStatus>(ExitStatus::FromWaitStatus(wait_status));
    if (result < 0 && errno != EINTR) return ErrnoError(fmt::format("waitpid {}", pid_), errno);
  }
}

Result<ExitStatus> Subprocess::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    KILN_ASSIGN_OR_RETURN(const std::optional<ExitStatus> status, TryWait());
    if (status) return *status;
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError(
          fmt::format("process {} still runs after {} ms", pid_, timeout.count()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

ProcessSpawner& RealSpawner() {
  static ForkExecSpawner* const spawner = new ForkExecSpawner();
  return *spawner;
}

Result<std::pair<UniqueFd, UniqueFd>> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

Result<std::string> ReadFirstLine(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd ready{fd, POLLIN, 0};
    const int polled = left.count() > 0 ? ::poll(&ready, 1, static_cast<int>(left.count())) : 0;
    if (polled < 0 && errno == EINTR) continue;
    if (polled < 0) return ErrnoError("poll", errno);
    if (polled == 0) {
      return DeadlineExceededError(
          fmt::format("no line within {} ms (got '{}')", timeout.count(), line));
    }
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read", errno);
    if (n == 0) return UnavailableError(fmt::format("the pipe closed after '{}'", line));
    if (c == '\n') return line;
    line.push_back(c);
  }
}

Result<CapturedRun> RunAndCapture(const SpawnOptions& options, std::chrono::milliseconds timeout,
                                  ProcessSpawner& spawner) {
  KILN_ASSIGN_OR_RETURN(auto out_pipe, MakePipe());
  KILN_ASSIGN_OR_RETURN(auto err_pipe, MakePipe());
  SpawnOptions with_pipes = options;
  with_pipes.stdout_fd = out_pipe.second.get();
  with_pipes.stderr_fd = err_pipe.second.get();
  with_pipes.new_process_group = true;
  KILN_ASSIGN_OR_RETURN(Subprocess child, spawner.Spawn(with_pipes));
  out_pipe.second.reset();
  err_pipe.second.reset();

  CapturedRun run;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  pollfd fds[2] = {{out_pipe.first.get(), POLLIN, 0}, {err_pipe.first.get(), POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_streams = 2;
  while (open_streams > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && !killed) {
      ::kill(-child.pid(), SIGKILL);
      killed = true;
    }
    const int ready = ::poll(fds, 2, killed ? 1000 : static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno != EINTR) return ErrnoError("poll", errno);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[16 * 1024];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open_streams;
      }
    }
    if (killed && ready == 0) break;  // Killed, and a grandchild still holds the pipe.
  }
  KILN_ASSIGN_OR_RETURN(run.exit, child.Wait());
  if (killed) {
    return DeadlineExceededError(fmt::format("'{}' did not finish within {} ms and was killed",
                                             options.argv[0], timeout.count()));
  }
  return run;
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  return env;
}

std::optional<std::string_view> FindVariable(const std::vector<std::string>& env,
                                             std::string_view name) {
  for (const std::string& entry : env) {
    if (entry.size() > name.size() && entry[name.size()] == '=' && entry.starts_with(name)) {
      return std::string_view(entry).substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

fs::path FindInPath(std::string_view name, std::string_view search_path) {
  for (const std::string& dir : SplitString(search_path, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    std::error_code error;
    if (fs::is_regular_file(candidate, error) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

fs::path CurrentExecutable() {
  std::error_code error;
  fs::path path = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : path;
}

}  // namespace kiln
