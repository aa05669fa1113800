// Memory of a server while clients download one large artifact at once: a real `kiln server`
// (SQLite store) on loopback, a run whose outputs/ holds a 1 GiB file, and 16 clients that
// each GET /v1/runs/{id}/artifacts/outputs/big.bin at the same time. The server's resident
// memory is read from /proc: VmRSS when idle (started, one request served), and the peak,
// VmHWM, reset to the idle figure (clear_refs 5) just before the downloads start and read
// when they have ended.
//
// The peer is Python's http.server (`/usr/bin/python3 -m http.server`, threaded, copying
// files in 64 KiB reads) serving the same file to as many clients, measured the same way in
// the same run. The file is sparse: every byte of it is still read through each server's
// read path (pread or read of the file), holes only spare the disk.
//
//   build/bench/download_memory [megabytes [clients]]

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "bench/bench_util.h"
#include "common/files.h"
#include "common/ports.h"
#include "common/unique_fd.h"
#include "store/sqlite/sqlite_store.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(1);
}

// A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM").
std::int64_t StatusKb(pid_t pid, std::string_view field) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::atoll(line.c_str() + field.size() + 1);
    }
  }
  Fail(fmt::format("no {} in /proc/{}/status", field, pid));
}

// Resets the process's VmHWM to its VmRSS now.
void ResetPeak(pid_t pid) {
  std::ofstream clear(fmt::format("/proc/{}/clear_refs", pid));
  clear << "5";
  if (!clear.flush()) Fail(fmt::format("cannot write /proc/{}/clear_refs", pid));
}

struct Figures {
  double idle_mb = 0;
  double peak_mb = 0;
  double seconds = 0;
};

// `clients` concurrent GETs of `path` from `url`; each body is counted as it arrives and
// dropped. Fails the benchmark unless every client got `bytes` bytes.
// `warm_path` is one small request served first, so that idle is a server that has served.
Figures Measure(pid_t pid, const std::string& url, const std::string& warm_path,
                const std::string& path, const std::string& token, int clients,
                std::uint64_t bytes) {
  {
    httplib::Client warm(url);
    if (!token.empty()) warm.set_bearer_token_auth(token);
    auto result = warm.Get(warm_path);
    if (!result || result->status != 200) {
      Fail(fmt::format("{}{}: {}", url, warm_path,
                       result ? std::to_string(result->status) + " " + result->body
                              : httplib::to_string(result.error())));
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Figures figures;
  figures.idle_mb = static_cast<double>(StatusKb(pid, "VmRSS")) / 1024;
  ResetPeak(pid);
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < clients; ++i) {
    pool.emplace_back([&] {
      httplib::Client client(url);
      client.set_read_timeout(std::chrono::seconds(300));
      if (!token.empty()) client.set_bearer_token_auth(token);
      std::uint64_t received = 0;
      auto result = client.Get(path, [&](const char*, std::size_t n) {
        received += n;
        return true;
      });
      if (!result || result->status != 200 || received != bytes) ++failures;
    });
  }
  for (std::thread& thread : pool) thread.join();
  figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  figures.peak_mb = static_cast<double>(StatusKb(pid, "VmHWM")) / 1024;
  if (failures > 0)
    Fail(fmt::format("{} of {} downloads from {} failed", failures.load(), clients, url));
  return figures;
}

void Print(const char* who, const Figures& f, int clients, std::uint64_t bytes) {
  std::printf("%-38s idle %7.1f MB  peak %7.1f MB  peak - idle %7.1f MB  %5.2f GB/s\n", who,
              f.idle_mb, f.peak_mb, f.peak_mb - f.idle_mb,
              static_cast<double>(bytes) * clients / f.seconds / 1e9);
}

// Starts `options` (its output dropped) and waits until `url` answers an HTTP request.
Subprocess StartAndWait(SpawnOptions options, const std::string& url) {
  const UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  options.stdout_fd = null.get();
  options.stderr_fd = null.get();
  options.kill_with_parent = true;
  Result<Subprocess> process = RealSpawner().Spawn(options);
  if (!process.ok()) Fail(process.status().ToString());
  httplib::Client probe(url);
  for (int i = 0; i < 300; ++i) {
    if (probe.Get("/")) return std::move(process).value();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Fail(fmt::format("{} did not start listening at {}", options.argv[0], url));
}

void Stop(Subprocess& process) {
  ::kill(process.pid(), SIGTERM);
  if (!process.WaitFor(std::chrono::seconds(30)).ok()) ::kill(process.pid(), SIGKILL);
}

int Main(int argc, char** argv) {
  const std::uint64_t megabytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const int clients = argc > 2 ? std::atoi(argv[2]) : 16;
  const std::uint64_t bytes = megabytes << 20;
  const TestDir dir;
  const fs::path home = dir.path() / "server";
  const fs::path db = home / "kiln.db";
  const fs::path run_dir = home / "runs" / "bench-run";
  const fs::path file = run_dir / "outputs" / "big.bin";
  if (!CreateDirectories(file.parent_path()).ok()) Fail("cannot create " + file.string());
  {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
      Fail("cannot size " + file.string());
  }
  {
    auto store = store::sqlite::SqliteStore::Open(db);
    if (!store.ok()) Fail(store.status().ToString());
    store::Run run;
    run.id = "bench-run";
    run.experiment = "bench";
    run.spec_json = R"({"entry_script":"train.py"})";
    run.snapshot_id = std::string(64, 'a');
    run.compute_target = "local";
    run.run_dir = run_dir.string();
    run.host = "bench";
    if (const auto created = (*store)->CreateRun(run); !created.ok()) {
      Fail(created.status().ToString());
    }
  }
  SpawnOptions token_options;
  token_options.argv = {KILN_BINARY, "server", "token",   "create",
                        "--name",    "bench",  "--store", "sqlite://" + db.string()};
  token_options.env = KilnEnvironment(home);
  const Result<CapturedRun> token_run = RunAndCapture(token_options, std::chrono::seconds(60));
  if (!token_run.ok() || !token_run->exit.success()) Fail("kiln server token create failed");
  const std::string token = token_run->out.substr(0, token_run->out.find('\n'));

  std::printf(
      "%d clients at once, each downloading one %llu MiB file (sparse) over loopback; "
      "%u cores\n",
      clients, static_cast<unsigned long long>(megabytes), std::thread::hardware_concurrency());

  const Result<int> kiln_port = PickFreePort();
  const Result<int> python_port = PickFreePort();
  if (!kiln_port.ok() || !python_port.ok()) Fail("no free port");

  SpawnOptions serve;
  const std::string kiln_url = fmt::format("http://127.0.0.1:{}", *kiln_port);
  serve.argv = {KILN_BINARY, "server",      "--listen", fmt::format("127.0.0.1:{}", *kiln_port),
                "--home",    home.string(), "--store",  "sqlite://" + db.string()};
  serve.env = KilnEnvironment(home);
  Subprocess server = StartAndWait(serve, kiln_url);
  const Figures kiln =
      Measure(server.pid(), kiln_url, "/v1/runs/bench-run/artifacts",
              "/v1/runs/bench-run/artifacts/outputs/big.bin", token, clients, bytes);
  Stop(server);

  SpawnOptions python;
  const std::string python_url = fmt::format("http://127.0.0.1:{}", *python_port);
  python.argv = {"/usr/bin/python3",
                 "-m",
                 "http.server",
                 "--bind",
                 "127.0.0.1",
                 "--directory",
                 file.parent_path().string(),
                 std::to_string(*python_port)};
  python.env = CurrentEnvironment();
  Subprocess peer = StartAndWait(python, python_url);
  const Figures py = Measure(peer.pid(), python_url, "/", "/big.bin", "", clients, bytes);
  Stop(peer);

  Print("kiln server", kiln, clients, bytes);
  Print("python3 -m http.server (peer)", py, clients, bytes);
  const double kiln_added = kiln.peak_mb - kiln.idle_mb;
  const double py_added = py.peak_mb - py.idle_mb;
  std::printf(
      "kiln server peak above idle: %.1f MB (target: under 100 MB); "
      "ratio to the peer's: %.2f\n",
      kiln_added, py_added > 0 ? kiln_added / py_added : 0.0);
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) { return kiln::bench::Main(argc, argv); }
