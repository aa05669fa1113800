#pragma once

// FaultTest: a test home (and, when a test starts one, a real `kiln server`) in which a
// fault is injected, and the one way every fault test judges what the fault left behind:
//
// 1. the run reaches a final status within 30 s, the expected one, with the expected reason;
// 2. no process of the run is left;
// 3. every metric point the script logged before the kill (what its spool holds) is in the
//    store exactly once;
// 4. no temporary file (`*.tmp.*`) is left in the homes and no /dev/shm segment of a
//    process that is gone.
// Each judgement is recorded in the suite's tally (fault_tally.h) and asserted.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "e2e/server_fixture.h"
#include "faults/fault_tally.h"

namespace kiln::faults {

// How a test runs `kiln ARGS...`: against its embedded store, or as a client of its server.
using KilnCall = std::function<CapturedRun(const std::vector<std::string>&)>;

struct Expected {
  std::string status;         // "Failed", "Completed", ...
  std::string reason_prefix;  // the failure reason starts with this ("" checks nothing)
  std::string metric;         // the scalar metric whose points are counted ("" for none)
  int ranks = 1;              // ranks whose spools hold that metric
};

class FaultTest : public e2e::ServerTest {
 protected:
  static constexpr std::chrono::seconds kSettleTime{30};

  KilnCall Embedded();
  KilnCall ViaServer();

  // A Python script logging scalar "step" = 0, 1, 2, ... `points` times, printing "logged N"
  // and sleeping `sleep_between` seconds after every `per_batch` points, then printing
  // "done" and sleeping `sleep_after` seconds. The spool is written through memory shared
  // with the file, so a point is in the spool as soon as log() returns.
  std::filesystem::path LoggingProject(const std::string& name, int points, int per_batch,
                                       double sleep_between, double sleep_after);

  // Submits, returns the run id (empty, with a test failure, on error).
  std::string Submit(const KilnCall& kiln, const std::vector<std::string>& args);
  // `kiln show RUN --json`, null when it fails.
  nlohmann::json Show(const KilnCall& kiln, const std::string& run);
  // Polls until the run's status is `status` or one after it; false after `timeout`.
  bool WaitUntil(const KilnCall& kiln, const std::string& run,
                 const std::vector<std::string>& statuses,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Starts `kiln args...` as a client of the server, without waiting; its stdout and
  // stderr go to `output`. It dies with the test.
  Subprocess StartClient(const std::vector<std::string>& args, const std::filesystem::path& output);
  // The pid in runs/<id>/launcher.lock under `runs_root`; 0 when there is none.
  pid_t LauncherPid(const std::filesystem::path& runs_root, const std::string& run);

  // Judges the run after `fault` (the steps above), records and asserts it.
  void Settle(const std::string& fault, const KilnCall& kiln, const std::string& run,
              const std::filesystem::path& runs_root, const Expected& expected);

 private:
  std::vector<double> SpooledValues(const std::filesystem::path& spool, const std::string& name);
  std::vector<double> StoredValues(const KilnCall& kiln, const std::string& run,
                                   const std::string& name, int rank);
  std::size_t FilesLeft() const;
};

// The file's text; empty when it cannot be read.
std::string FileText(const std::filesystem::path& path);

// Sends SIGKILL and waits until the process is gone (a zombie counts as gone).
void KillNow(pid_t pid);

}  // namespace kiln::faults
