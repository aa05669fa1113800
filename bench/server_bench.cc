// The server's throughput and latency, next to the embedded store measured in the same run:
//   1. GET /v1/runs/{id} from 64 concurrent keep-alive clients: requests/s and p99,
//      against 64 threads calling Store::GetRun on the SQLite file;
//   2. POST /v1/runs/{id}/metrics with 1,000-point batches from 64 clients: requests/s and
//      p99, against Store::AppendMetrics from 64 threads;
//   3. metric ingest from 100 runs at once (one client each, 1,000-point batches):
//      points/s, against 100 embedded-store connections (as 100 local launchers have).
// A real `kiln server` process on loopback with its SQLite store.
//
//   build/bench/server_bench [seconds_per_phase]

#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "bench/bench_util.h"
#include "common/files.h"
#include "store/sqlite/sqlite_store.h"
#include "store/wire.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Figures {
  double per_second = 0;  // requests (or points) per second
  double p99_ms = 0;
};

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(q * values.size()))];
}

// Runs `work(thread, iteration)` in `threads` threads for `seconds`; each call is timed.
// `units` is what one call counts for (1 request, or 1,000 points).
template <typename Work>
Figures Measure(int threads, double seconds, double units, const Work& work) {
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; Clock::now() < end && !failed; ++i) {
        const auto before = Clock::now();
        if (!work(t, i)) failed = true;
        latencies[static_cast<std::size_t>(t)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - before).count());
      }
    });
  }
  for (std::thread& thread : pool) thread.join();
  if (failed) {
    std::fprintf(stderr, "a benchmark request failed\n");
    std::exit(1);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& some : latencies) all.insert(all.end(), some.begin(), some.end());
  return {static_cast<double>(all.size()) * units / elapsed, Percentile(all, 0.99)};
}

bool Ok(const httplib::Result& result) {
  if (result && result->status == 200) return true;
  std::fprintf(stderr, "request failed: %s\n",
               result ? (std::to_string(result->status) + " " + result->body).c_str()
                      : httplib::to_string(result.error()).c_str());
  return false;
}

store::MetricBatch Batch(int rank, std::uint64_t index) {
  store::MetricBatch batch;
  batch.rank = rank;
  batch.offset_before = index * 1000;
  batch.offset_after = (index + 1) * 1000;
  store::MetricSeries& series = batch.series.emplace_back();
  series.name = "loss";
  series.rank = rank;
  for (int i = 0; i < 1000; ++i) {
    const auto step = static_cast<std::int64_t>(index * 1000 + static_cast<std::uint64_t>(i));
    series.points.push_back(
        {step, 1.0 / static_cast<double>(step + 1), 1'700'000'000'000'000 + step});
  }
  return batch;
}

store::Run NewRun(const std::string& id) {
  store::Run run;
  run.id = id;
  run.experiment = "bench";
  run.spec_json = R"({"entry_script":"train.py"})";
  run.snapshot_id = std::string(64, 'a');
  run.compute_target = "local";
  run.run_dir = "/nonexistent/" + id;
  run.host = "bench";
  return run;
}

std::unique_ptr<store::sql::SqlStore> OpenSqlite(const fs::path& path) {
  auto opened = store::sqlite::SqliteStore::Open(path);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(opened).value();
}

// Makes `count` runs named <prefix>0.. in the store at `path`.
void CreateRuns(const fs::path& path, const std::string& prefix, int count) {
  auto store = OpenSqlite(path);
  for (int i = 0; i < count; ++i) {
    if (!store->CreateRun(NewRun(prefix + std::to_string(i))).ok()) std::exit(1);
  }
}

std::string Capture(const std::vector<std::string>& argv, const fs::path& home) {
  SpawnOptions options;
  options.argv = argv;
  options.env = KilnEnvironment(home);
  const Result<CapturedRun> run = RunAndCapture(options, std::chrono::seconds(60));
  if (!run.ok() || !run->exit.success()) {
    std::fprintf(stderr, "%s failed: %s\n", argv[1].c_str(), run.ok() ? run->err.c_str() : "");
    std::exit(1);
  }
  return run->out.substr(0, run->out.find('\n'));
}

void Print(const char* what, const Figures& server, const Figures& embedded, const char* unit) {
  std::printf(
      "%-44s server %10.0f %s  p99 %7.2f ms | embedded %10.0f %s  p99 %7.2f ms | "
      "ratio %.3f\n",
      what, server.per_second, unit, server.p99_ms, embedded.per_second, unit, embedded.p99_ms,
      server.per_second / embedded.per_second);
}

int Main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  const TestDir dir;
  const fs::path home = dir.path() / "server";
  const fs::path server_db = home / "kiln.db";
  const fs::path embedded_db = dir.path() / "embedded.db";
  if (!CreateDirectories(home).ok()) return 1;
  CreateRuns(server_db, "get", 1);
  CreateRuns(server_db, "batch", 1);
  CreateRuns(server_db, "ingest", 100);
  CreateRuns(embedded_db, "get", 1);
  CreateRuns(embedded_db, "batch", 1);
  CreateRuns(embedded_db, "ingest", 100);
  const std::string token = Capture({KILN_BINARY, "server", "token", "create", "--name", "bench",
                                     "--store", "sqlite://" + server_db.string()},
                                    home);

  auto pipe = MakePipe();
  SpawnOptions serve;
  serve.argv = {KILN_BINARY, "server",      "--listen", "127.0.0.1:0",
                "--home",    home.string(), "--store",  "sqlite://" + server_db.string()};
  serve.env = KilnEnvironment(home);
  serve.stdout_fd = pipe->second.get();
  serve.kill_with_parent = true;
  Result<Subprocess> server = RealSpawner().Spawn(serve);
  if (!server.ok()) return 1;
  pipe->second.reset();
  const Result<std::string> line = ReadFirstLine(pipe->first.get(), std::chrono::seconds(30));
  if (!line.ok()) {
    std::fprintf(stderr, "kiln server did not start: %s\n", line.status().ToString().c_str());
    return 1;
  }
  const std::string url = line->substr(line->rfind(' ') + 1);
  std::printf("kiln server at %s, SQLite store; %.0f s a phase; %u cores\n", url.c_str(), seconds,
              std::thread::hardware_concurrency());

  const auto clients = [&](int count) {
    std::vector<std::unique_ptr<httplib::Client>> out;
    for (int i = 0; i < count; ++i) {
      auto client = std::make_unique<httplib::Client>(url);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      // Connected before the clock starts: the figures are of requests, not of handshakes.
      if (!Ok(client->Get("/v1/health"))) std::exit(1);
      client->set_bearer_token_auth(token);
      out.push_back(std::move(client));
    }
    return out;
  };
  const auto embedded_stores = [&](int count) {
    std::vector<std::unique_ptr<store::sql::SqlStore>> out;
    for (int i = 0; i < count; ++i) out.push_back(OpenSqlite(embedded_db));
    return out;
  };

  // 1. GET /v1/runs/{id}
  {
    auto http = clients(64);
    const Figures remote = Measure(64, seconds, 1, [&](int t, int) {
      return Ok(http[static_cast<std::size_t>(t)]->Get("/v1/runs/get0"));
    });
    auto store = OpenSqlite(embedded_db);
    const Figures local =
        Measure(64, seconds, 1, [&](int, int) { return store->GetRun("get0").ok(); });
    Print("GET /v1/runs/{id}, 64 clients", remote, local, "req/s");
  }
  // 2. 1,000-point batches, 64 clients, each its own rank of one run.
  {
    auto http = clients(64);
    const Figures remote = Measure(64, seconds, 1, [&](int t, int i) {
      const std::string body =
          store::wire::MetricBatchToJson(Batch(t, static_cast<std::uint64_t>(i))).dump();
      const auto result = http[static_cast<std::size_t>(t)]->Post("/v1/runs/batch0/metrics", body,
                                                                  "application/json");
      return Ok(result);
    });
    auto store = OpenSqlite(embedded_db);
    const Figures local = Measure(64, seconds, 1, [&](int t, int i) {
      return store->AppendMetrics("batch0", Batch(t, static_cast<std::uint64_t>(i))).ok();
    });
    Print("POST 1,000-point batch, 64 clients", remote, local, "req/s");
  }
  // 3. 100 runs ingesting at once.
  {
    auto http = clients(100);
    const Figures remote = Measure(100, seconds, 1000, [&](int t, int i) {
      const std::string body =
          store::wire::MetricBatchToJson(Batch(0, static_cast<std::uint64_t>(i))).dump();
      const auto result = http[static_cast<std::size_t>(t)]->Post(
          fmt::format("/v1/runs/ingest{}/metrics", t), body, "application/json");
      return Ok(result);
    });
    auto stores = embedded_stores(100);
    const Figures local = Measure(100, seconds, 1000, [&](int t, int i) {
      return stores[static_cast<std::size_t>(t)]
          ->AppendMetrics(fmt::format("ingest{}", t), Batch(0, static_cast<std::uint64_t>(i)))
          .ok();
    });
    Print("metric ingest, 100 runs at once", remote, local, "pts/s");
  }

  ::kill(server->pid(), SIGTERM);
  const Result<ExitStatus> exit = server->WaitFor(std::chrono::seconds(30));
  return exit.ok() && exit->success() ? 0 : 1;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) { return kiln::bench::Main(argc, argv); }
