#pragma once

// OutputCapture: the launcher's side of one child's stdout and stderr pipes, written line by
// line into a RankLog as the bytes arrive. The launcher keeps one per rank (or one for
// mpirun); the rank shim (rank_shim.h) keeps one for the rank it runs.

#include <poll.h>

#include <filesystem>
#include <optional>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "launch/rank_log.h"

namespace kiln::launch {

class OutputCapture {
 public:
  // Opens `log_path` and makes the two pipes; the child's ends go into `spawn` (its stdout_fd
  // and stderr_fd) and must stay open until the child is spawned.
  static Result<OutputCapture> Open(const std::filesystem::path& log_path, const Clock& clock);

  int child_stdout() const { return child_out_.get(); }
  int child_stderr() const { return child_err_.get(); }
  // Closes this process's copies of the child's ends, once the child holds them.
  void ChildStarted();

  // Adds the open read ends to a poll set.
  void AddPollFds(std::vector<pollfd>& fds) const;
  // Writes whatever the pipes hold now into the log, without blocking.
  Status DrainAvailable();
  bool open() const { return out_ || err_; }
  // Stops reading (a stopped grandchild may hold a pipe open indefinitely).
  void Close();

  RankLog& log() { return *log_; }
  const RankLog& log() const { return *log_; }

 private:
  OutputCapture() = default;
  Status DrainOne(UniqueFd& fd, Stream stream);

  std::optional<RankLog> log_;
  UniqueFd out_;
  UniqueFd err_;
  UniqueFd child_out_;
  UniqueFd child_err_;
};

}  // namespace kiln::launch
