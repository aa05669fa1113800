#include "store/postgres/test_server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "common/files.h"
#include "common/ports.h"
#include "common/strings.h"
#include "common/subprocess.h"

namespace kiln::store::postgres {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kUser = "kiln";

// This process's environment without LD_PRELOAD: the sanitized test run preloads ASan into
// everything it starts, and the server's tools (runuser above all) hang under it. The
// server is not the code under test.
std::vector<std::string> ServerEnvironment() {
  std::vector<std::string> env = CurrentEnvironment();
  std::erase_if(env, [](const std::string& entry) { return entry.starts_with("LD_PRELOAD="); });
  return env;
}

// The newest installed server's bin/ (/usr/lib/postgresql/<version>/bin).
fs::path FindServerBin() {
  std::vector<fs::path> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
    if (fs::exists(entry.path() / "bin/initdb", error)) found.push_back(entry.path() / "bin");
  }
  if (found.empty()) return {};
  return *std::max_element(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) <
           std::stoi(b.parent_path().filename().string());
  });
}

}  // namespace

Result<std::string> PostgresTestServer::RunTool(const std::string& tool,
                                                std::vector<std::string> args) const {
  SpawnOptions spawn;
  if (::geteuid() == 0) spawn.argv = {"runuser", "-u", "postgres", "--"};
  spawn.argv.push_back((bin_ / tool).string());
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.env = ServerEnvironment();
  spawn.cwd = scratch_.path();
  KILN_ASSIGN_OR_RETURN(const CapturedRun run, RunAndCapture(spawn, std::chrono::seconds(120)));
  if (!run.exit.success()) {
    return InternalError(fmt::format("{} {}: {}\n{}{}", tool, run.exit.Describe(),
                                     JoinStrings(args, " "), run.out, run.err));
  }
  return run.out;
}

Result<std::unique_ptr<PostgresTestServer>> PostgresTestServer::Start() {
  std::unique_ptr<PostgresTestServer> server(new PostgresTestServer());
  server->bin_ = FindServerBin();
  if (server->bin_.empty()) {
    return FailedPreconditionError(
        "no PostgreSQL server under /usr/lib/postgresql; install postgresql (scripts/setup.sh)");
  }
  server->data_ = server->scratch_.path() / "data";
  if (::geteuid() == 0) {
    // The server's user must own its directory and reach it.
    const std::string owner = "postgres:postgres";
    SpawnOptions chown;
    chown.argv = {"chown", "-R", owner, server->scratch_.path().string()};
    chown.env = ServerEnvironment();
    KILN_ASSIGN_OR_RETURN(const CapturedRun changed,
                          RunAndCapture(chown, std::chrono::seconds(30)));
    if (!changed.exit.success()) return InternalError("chown: " + changed.err);
  }
  KILN_RETURN_IF_ERROR(
      server
          ->RunTool("initdb", {"-D", server->data_.string(), "-U", std::string(kUser),
                               "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"})
          .status());
  KILN_RETURN_IF_ERROR(server->StartWatchdog());
  KILN_ASSIGN_OR_RETURN(server->port_, PickFreePort());
  KILN_RETURN_IF_ERROR(server->Run("start"));
  server->started_ = true;
  return server;
}

Status PostgresTestServer::Run(const std::string& action) {
  const std::string options = fmt::format(
      "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off "
      "-c synchronous_commit=off -c full_page_writes=off",
      port_, scratch_.path().string());
  const Result<std::string> done =
      RunTool("pg_ctl", {"-D", data_.string(), "-l", (scratch_.path() / "server.log").string(),
                         "-w", "-t", "60", "-m", "fast", "-o", options, action});
  if (!done.ok()) {
    const Result<std::string> log = ReadFileToString(scratch_.path() / "server.log");
    return done.status().WithPrefix(
        fmt::format("PostgreSQL did not {}; its log:\n{}", action, log.ok() ? *log : ""));
  }
  return Status::Ok();
}

Status PostgresTestServer::Restart() { return Run("restart"); }

Status PostgresTestServer::StartWatchdog() {
  KILN_ASSIGN_OR_RETURN(auto pipe, MakePipe());
  const std::string as_server = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
  SpawnOptions spawn;
  spawn.argv = {
      "sh", "-c",
      fmt::format("cat >/dev/null; {}'{}' -D '{}' -m immediate -w stop >/dev/null 2>&1; "
                  "rm -rf '{}'",
                  as_server, (bin_ / "pg_ctl").string(), data_.string(), scratch_.path().string())};
  spawn.env = ServerEnvironment();
  spawn.stdin_fd = pipe.first.get();
  spawn.new_session = true;  // not in the test's process group, which a timeout kills
  spawn.detach = true;
  KILN_RETURN_IF_ERROR(RealSpawner().Spawn(spawn).status());
  watchdog_ = std::move(pipe.second);
  return Status::Ok();
}

PostgresTestServer::~PostgresTestServer() {
  if (started_) {
    RunTool("pg_ctl", {"-D", data_.string(), "-m", "immediate", "-w", "stop"})
        .status()
        .IgnoreError();
  }
  // The watchdog finds the server stopped and ends.
  watchdog_.reset();
}

Result<std::string> PostgresTestServer::CreateDatabase() {
  const std::string name = fmt::format("kiln_test_{}_{}", ::getpid(), ++databases_);
  KILN_RETURN_IF_ERROR(RunTool("createdb", {"-h", "127.0.0.1", "-p", std::to_string(port_), "-U",
                                            std::string(kUser), name})
                           .status());
  return fmt::format("postgresql://{}@127.0.0.1:{}/{}", kUser, port_, name);
}

}  // namespace kiln::store::postgres
