#include "faults/fault_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <thread>

#include "common/files.h"
#include "common/process_table.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "tracking/spool_reader.h"

namespace kiln::faults {
namespace fs = std::filesystem;

namespace {

bool IsFinal(const std::string& status) {
  return status == "Completed" || status == "Failed" || status == "Canceled";
}

// The lifecycle's order (docs/runs.md), so "at or after" can be asked.
int Order(const std::string& status) {
  static const std::vector<std::string> kOrder = {"Queued",          "Preparing", "Running",
                                                  "Finalizing",      "Completed", "Failed",
                                                  "CancelRequested", "Canceled"};
  const auto it = std::find(kOrder.begin(), kOrder.end(), status);
  return it == kOrder.end() ? -1 : static_cast<int>(it - kOrder.begin());
}

}  // namespace

std::string FileText(const fs::path& path) {
  Result<std::string> text = ReadFileToString(path);
  return text.ok() ? std::move(text).value() : std::string();
}

void KillNow(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 500; ++i) {
    if (!ProcessStartTicks(pid).has_value()) return;
    // A child of this process (a server it started) is reaped here; others by their parent.
    ::waitpid(pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

KilnCall FaultTest::Embedded() {
  return [this](const std::vector<std::string>& args) { return Kiln(args); };
}

KilnCall FaultTest::ViaServer() {
  return [this](const std::vector<std::string>& args) { return Client(args); };
}

fs::path FaultTest::LoggingProject(const std::string& name, int points, int per_batch,
                                   double sleep_between, double sleep_after) {
  const std::string script = fmt::format(
      "import time\n"
      "from kiln import Run\n"
      "run = Run.get_context()\n"
      "for i in range({points}):\n"
      "    run.log('step', i)\n"
      "    if (i + 1) % {per_batch} == 0:\n"
      "        print('logged', i + 1, flush=True)\n"
      "        time.sleep({between})\n"
      "print('done', flush=True)\n"
      "time.sleep({after})\n",
      fmt::arg("points", points), fmt::arg("per_batch", per_batch),
      fmt::arg("between", sleep_between), fmt::arg("after", sleep_after));
  return Project(name, {{"train.py", script}});
}

std::string FaultTest::Submit(const KilnCall& kiln, const std::vector<std::string>& args) {
  std::vector<std::string> submit = {"submit"};
  submit.insert(submit.end(), args.begin(), args.end());
  const CapturedRun run = kiln(submit);
  EXPECT_EQ(run.exit.code, 0) << run.err;
  return run.exit.code == 0 ? e2e::FirstLine(run.out) : "";
}

nlohmann::json FaultTest::Show(const KilnCall& kiln, const std::string& run) {
  const CapturedRun shown = kiln({"show", run, "--json"});
  return nlohmann::json::parse(shown.out, nullptr, false);
}

bool FaultTest::WaitUntil(const KilnCall& kiln, const std::string& run,
                          const std::vector<std::string>& statuses,
                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const nlohmann::json shown = Show(kiln, run);
    if (!shown.is_discarded() && shown.is_object()) {
      const std::string status = shown.value("status", "");
      if (std::find(statuses.begin(), statuses.end(), status) != statuses.end()) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Subprocess FaultTest::StartClient(const std::vector<std::string>& args, const fs::path& output) {
  UniqueFd out(::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  EXPECT_TRUE(out) << output;
  SpawnOptions options;
  options.argv = {KILN_BINARY};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  std::vector<std::string> environment;
  for (const std::string& entry : CurrentEnvironment()) {
    if (!entry.starts_with("KILN_")) environment.push_back(entry);
  }
  environment.push_back("KILN_HOME=" + home().string());
  environment.push_back("KILN_SERVER=" + url());
  environment.push_back("KILN_TOKEN=" + token());
  options.env = environment;
  options.cwd = root();
  options.stdout_fd = out.get();
  options.stderr_fd = out.get();
  options.kill_with_parent = true;
  Result<Subprocess> started = RealSpawner().Spawn(options);
  EXPECT_TRUE(started.ok()) << started.status().ToString();
  return started.ok() ? std::move(started).value() : Subprocess(-1);
}

pid_t FaultTest::LauncherPid(const fs::path& runs_root, const std::string& run) {
  const Result<std::string> text = ReadFileToString(runs_root / run / "launcher.lock");
  if (!text.ok()) return 0;
  return static_cast<pid_t>(ParseInt64(TrimWhitespace(*text)).value_or(0));
}

std::vector<double> FaultTest::SpooledValues(const fs::path& spool, const std::string& name) {
  std::vector<double> values;
  const Result<tracking::SpoolChunk> chunk = tracking::SpoolReader(spool).Read(0, true);
  if (!chunk.ok()) {
    ADD_FAILURE() << spool << ": " << chunk.status().ToString();
    return values;
  }
  std::uint32_t id = UINT32_MAX;
  for (const tracking::Record& record : chunk->records) {
    if (const auto* named = std::get_if<tracking::NameRecord>(&record)) {
      if (named->name == name) id = named->id;
    } else if (const auto* scalar = std::get_if<tracking::ScalarRecord>(&record)) {
      if (scalar->name_id == id) values.push_back(scalar->value);
    }
  }
  return values;
}

std::vector<double> FaultTest::StoredValues(const KilnCall& kiln, const std::string& run,
                                            const std::string& name, int rank) {
  std::vector<double> values;
  const CapturedRun csv =
      kiln({"metrics", run, "--name", name, "--rank", std::to_string(rank), "--format", "csv"});
  if (csv.exit.code != 0) return values;  // no such metric: nothing stored
  bool header = true;
  for (const std::string& line : SplitString(csv.out, '\n')) {
    if (header || line.empty()) {
      header = false;
      continue;
    }
    // name,rank,step,value,time
    const std::vector<std::string> cells = SplitString(line, ',');
    if (cells.size() >= 4) values.push_back(std::stod(cells[3]));
  }
  return values;
}

std::size_t FaultTest::FilesLeft() const {
  std::size_t left = 0;
  for (const fs::path& home : {home(), server_home()}) {
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(home, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (it->path().filename().string().find(".tmp.") != std::string::npos) {
        ADD_FAILURE() << "temporary file left: " << it->path();
        ++left;
      }
    }
  }
  // /dev/shm/kiln-hvd-<pid>-<nonce>: a segment whose creator is gone was leaked.
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/dev/shm", error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("kiln-hvd-")) continue;
    const std::vector<std::string> parts = SplitString(name, '-');
    const auto pid = parts.size() >= 3 ? ParseInt64(parts[2]) : std::nullopt;
    if (pid && !ProcessStartTicks(static_cast<pid_t>(*pid)).has_value()) {
      ADD_FAILURE() << "shared memory segment left: " << entry.path();
      ++left;
    }
  }
  return left;
}

void FaultTest::Settle(const std::string& fault, const KilnCall& kiln, const std::string& run,
                       const fs::path& runs_root, const Expected& expected) {
  FaultOutcome outcome;
  outcome.fault = fault;
  outcome.final_state = "-";

  // 1. A final status, in time, the expected one with the expected reason.
  nlohmann::json shown;
  const auto deadline = std::chrono::steady_clock::now() + kSettleTime;
  while (std::chrono::steady_clock::now() < deadline) {
    shown = Show(kiln, run);
    if (shown.is_object() && IsFinal(shown.value("status", ""))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (shown.is_object()) {
    const std::string status = shown.value("status", "");
    const std::string reason =
        shown.contains("failure_reason") && shown["failure_reason"].is_string()
            ? shown["failure_reason"].get<std::string>()
            : "";
    outcome.final_state = status.empty() ? "-" : status;
    outcome.state_right = status == expected.status && reason.starts_with(expected.reason_prefix);
    EXPECT_EQ(status, expected.status) << fault << ": " << shown.dump();
    EXPECT_TRUE(reason.starts_with(expected.reason_prefix))
        << fault << ": reason '" << reason << "', expected '" << expected.reason_prefix << "...'";
  } else {
    ADD_FAILURE() << fault << ": kiln show " << run << " failed";
  }

  // 2. No process of the run.
  for (int i = 0; i < 50 && RunProcessCount(run) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  outcome.processes_left = RunProcessCount(run);
  EXPECT_EQ(outcome.processes_left, 0u) << fault;

  // 3. What the spools hold is in the store exactly once.
  for (int rank = 0; !expected.metric.empty() && rank < expected.ranks; ++rank) {
    const fs::path spool = runs_root / run / "metrics" / fmt::format("rank-{}.spool", rank);
    std::map<double, int> stored;
    for (double value : StoredValues(kiln, run, expected.metric, rank)) ++stored[value];
    for (double value : SpooledValues(spool, expected.metric)) {
      auto it = stored.find(value);
      if (it == stored.end() || it->second == 0) {
        ++outcome.points_lost;
        continue;
      }
      if (it->second > 1) outcome.points_duplicated += it->second - 1;
      stored.erase(it);
    }
  }
  EXPECT_EQ(outcome.points_lost, 0u) << fault;
  EXPECT_EQ(outcome.points_duplicated, 0u) << fault;

  // 4. No temporary file, no orphan segment.
  outcome.files_left = FilesLeft();
  RecordFault(outcome);
}

}  // namespace kiln::faults
