#pragma once

// Every setting a user can change through the environment, declared once with its
// variable and default. docs/configuration.md lists the same table for users.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln {

struct IntTunable {
  std::string_view env;
  std::int64_t default_value;
  std::int64_t min_value;
  std::string_view meaning;
};

struct StringTunable {
  std::string_view env;
  std::string_view default_value;
  std::string_view meaning;
};

inline constexpr StringTunable kKilnHome{
    "KILN_HOME", "~/.kiln", "folder of the embedded store, snapshots and run directories"};
inline constexpr StringTunable kKilnStore{
    "KILN_STORE", "sqlite://$KILN_HOME/kiln.db",
    "the store: sqlite:///path/kiln.db, or postgresql://user@host:port/database"};
inline constexpr StringTunable kKilnServer{
    "KILN_SERVER", "",
    "a Kiln server (http://host:port or https://host:port) to use instead of the store"};
inline constexpr StringTunable kKilnToken{"KILN_TOKEN", "",
                                          "the API token sent to KILN_SERVER (kiln server token)"};
inline constexpr StringTunable kKilnCaCert{
    "KILN_CA_CERT", "", "CA certificates (PEM) to trust for an https KILN_SERVER"};
inline constexpr StringTunable kKilnPython{
    "KILN_PYTHON", "/usr/bin/python3",
    "interpreter for a .py entry script when the job names none"};
inline constexpr StringTunable kKilnUiDir{
    "KILN_UI_DIR", "",
    "for work on the web UI: serve its files from this build folder (ui/build.mjs --out) "
    "instead of those compiled in"};
inline constexpr IntTunable kSnapshotMaxMegabytes{
    "KILN_SNAPSHOT_MAX_MB", 300, 1, "largest source snapshot accepted, in MB (10^6 bytes)"};
inline constexpr IntTunable kSnapshotMaxFiles{"KILN_SNAPSHOT_MAX_FILES", 2000, 1,
                                              "most files accepted in one source snapshot"};
inline constexpr IntTunable kServerPatienceSeconds{
    "KILN_SERVER_PATIENCE_SECONDS", 86400, 0,
    "how long a launcher keeps retrying a status report to an unreachable Kiln server"};
inline constexpr IntTunable kSweepPollMilliseconds{
    "KILN_SWEEP_POLL_MS", 100, 10,
    "how often a sweep's driver reads its trials' statuses and metrics, in milliseconds"};
inline constexpr IntTunable kKillGraceSeconds{
    "KILN_KILL_GRACE_SECONDS", 5, 0,
    "seconds between SIGTERM and SIGKILL when a run's processes are stopped"};
// For the fault suite (docs/testing.md): Preparing and Finalizing last milliseconds, so a
// test makes the launcher stop there to kill it.
inline constexpr StringTunable kFaultStopAt{
    "KILN_FAULT_STOP_AT", "",
    "tests only: a status (Preparing, Running, Finalizing) at which the launcher stops itself "
    "(SIGSTOP) right after storing it"};
inline constexpr IntTunable kPgConnectTimeoutSeconds{
    "KILN_PG_CONNECT_TIMEOUT_SECONDS", 10, 1,
    "seconds a connection to the PostgreSQL store may take before it is Unavailable"};
inline constexpr IntTunable kPgStatementTimeoutMs{
    "KILN_PG_STATEMENT_TIMEOUT_MS", 30000, 0,
    "milliseconds one PostgreSQL statement may run (waiting for a lock included) before it "
    "fails DeadlineExceeded; 0: no limit"};
inline constexpr IntTunable kPgPoolSize{
    "KILN_PG_POOL_SIZE", 8, 1,
    "connections one process keeps to the PostgreSQL store: how many of its calls run at "
    "once (a server's requests, a launcher's ingest); opened as they are needed"};
inline constexpr IntTunable kPgKeepaliveSeconds{
    "KILN_PG_KEEPALIVE_SECONDS", 30, 1,
    "seconds a PostgreSQL connection may be silent before TCP keepalive probes; a vanished "
    "server is noticed after about twice this"};

// The variable's value, or the default when it is unset or empty. An unparsable or
// too-small value is an InvalidArgument error naming the variable.
Result<std::int64_t> ReadTunable(const IntTunable& tunable);
std::string ReadTunable(const StringTunable& tunable);

// KILN_HOME, with "~" expanded, as an absolute path.
std::filesystem::path KilnHome();

}  // namespace kiln
