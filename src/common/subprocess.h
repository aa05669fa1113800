#pragma once

// Starting and supervising child processes.
//
// ProcessSpawner is the small interface the launcher and the local compute target start
// processes through, so a test can wrap the real one to inject failures. The real spawner
// uses fork + exec, doing only async-signal-safe work between them.
//
// Every child starts with: the signal mask cleared, default dispositions for the signals
// Kiln handles or ignores, and every file descriptor except 0, 1, 2 and `keep_fds` closed.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace kiln {

// How a process ended.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    // exit code when !signaled
  int signal = 0;  // terminating signal when signaled

  bool success() const { return !signaled && code == 0; }
  // "exited with code 1", "was killed by SIGSEGV".
  std::string Describe() const;
  static ExitStatus FromWaitStatus(int wait_status);
};

// "SIGSEGV" for 11; "signal 77" for numbers without a name.
std::string SignalName(int signal);

struct SpawnOptions {
  // argv[0] is the program; without a '/', it is looked up in PATH.
  std::vector<std::string> argv;
  // "NAME=value" entries; nullopt inherits this process's environment.
  std::optional<std::vector<std::string>> env;
  // Working directory; empty inherits.
  std::filesystem::path cwd;
  // Descriptors to install as the child's 0, 1 and 2; -1 means /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Descriptors the child keeps under the same numbers (close-on-exec is cleared).
  std::vector<int> keep_fds;
  // The child leads a new process group (pgid == pid), so the group can be signalled.
  bool new_process_group = false;
  // The child leads a new session with no controlling terminal.
  bool new_session = false;
  // The kernel sends SIGKILL to the child when the spawning thread exits.
  bool kill_with_parent = false;
  // Double fork: the child is re-parented at once and is never this process's to reap.
  bool detach = false;
};

// A started child. Owns the right to reap it; a Subprocess destroyed before Wait()
// leaves the child running (and a zombie until this process exits).
class Subprocess {
 public:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  Subprocess(Subprocess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  Subprocess& operator=(Subprocess&& other) noexcept {
    pid_ = std::exchange(other.pid_, -1);
    return *this;
  }

  pid_t pid() const { return pid_; }

  // Blocks until the child ends.
  Result<ExitStatus> Wait();
  // The exit status when the child has ended; nullopt while it runs.
  Result<std::optional<ExitStatus>> TryWait();
  // Waits at most `timeout`; DeadlineExceeded when it still runs.
  Result<ExitStatus> WaitFor(std::chrono::milliseconds timeout);

 private:
  pid_t pid_;
};

class ProcessSpawner {
 public:
  virtual ~ProcessSpawner() = default;
  // Starts the program. Fails (NotFound for a missing program, PermissionDenied for one
  // that is not executable, Internal otherwise) when exec fails: the error comes from the
  // child, so a returned Subprocess is known to be running the program.
  virtual Result<Subprocess> Spawn(const SpawnOptions& options) = 0;
};

// The spawner over fork + exec. Thread-compatible; never destroyed.
ProcessSpawner& RealSpawner();

// A pipe whose two ends are close-on-exec: {read end, write end}.
Result<std::pair<UniqueFd, UniqueFd>> MakePipe();

// The first line a child writes to the pipe `fd` (without its newline), waiting at most
// `timeout`: DeadlineExceeded when it does not come, Unavailable when the pipe closes first
// (with what was written, if anything). Reads byte by byte, so nothing after the line is
// taken from the pipe.
Result<std::string> ReadFirstLine(int fd, std::chrono::milliseconds timeout);

// Runs a program to its end, collecting stdout and stderr. Kills it (SIGKILL, its whole
// process group) when `timeout` passes. For tools and tests, not for job ranks.
struct CapturedRun {
  ExitStatus exit;
  std::string out;
  std::string err;
};
Result<CapturedRun> RunAndCapture(const SpawnOptions& options, std::chrono::milliseconds timeout,
                                  ProcessSpawner& spawner = RealSpawner());

// This process's environment as "NAME=value" entries.
std::vector<std::string> CurrentEnvironment();

// The first executable regular file `name` in the folders of `search_path` (PATH's syntax:
// colon-separated, an empty folder is the current one); empty when there is none.
std::filesystem::path FindInPath(std::string_view name, std::string_view search_path);

// The value of `name` in "NAME=value" entries; nullopt when it is not there.
std::optional<std::string_view> FindVariable(const std::vector<std::string>& env,
                                             std::string_view name);

// The absolute path of the running executable (/proc/self/exe).
std::filesystem::path CurrentExecutable();

}  // namespace kiln
