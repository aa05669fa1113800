// `kiln runs --where QUERY` over 100,000 runs, on the embedded SQLite store and on
// PostgreSQL (a test server this benchmark starts): the wall time of the whole command
// (process start, store open, query, reading the matches, printing JSON), median of 5,
// next to the peer a user had before --where: listing every run (`kiln runs --json`, median
// of 3) to filter it afterwards, measured in the same run.
//
//   build/bench/runs_where [runs]     (default 100000)

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "store/postgres/connection.h"
#include "store/postgres/postgres_store.h"
#include "store/postgres/test_server.h"
#include "store/sqlite/database.h"
#include "store/sqlite/sqlite_store.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;

// Fills a migrated store with `runs` completed runs in one statement per table: 10
// experiments, an owner tag among 20 names, a --lr param among 5 values, and a
// test_accuracy metric spread evenly over [0, 1).
std::string FillSql(int runs) {
  const std::string numbers = fmt::format(
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})", runs - 1);
  std::string sql;
  sql += "INSERT INTO experiments (name, created_at) SELECT 'exp' || i, 1 FROM (" + numbers +
         " SELECT i FROM n WHERE i < 10) AS e;\n";
  sql += numbers +
         " INSERT INTO runs (id, experiment_id, display_name, spec_json, snapshot_id, "
         "compute_target, run_dir, host, status, created_at, submitted_by, kind) "
         "SELECT 'run' || i, (SELECT id FROM experiments WHERE name = 'exp' || (i % 10)), "
         "'run ' || i, '{}', 's', 'local', '/runs/run' || i, 'h', "
         "CASE WHEN i % 50 = 0 THEN 'Failed' ELSE 'Completed' END, 1000000 + i, 'u', 'job' "
         "FROM n;\n";
  sql += numbers +
         " INSERT INTO run_tags (run_id, key, value) SELECT 'run' || i, 'owner', "
         "'user' || (i % 20) FROM n;\n";
  sql += numbers +
         " INSERT INTO run_params (run_id, position, name, value) SELECT 'run' || i, 0, "
         "'--lr', '0.00' || (i % 5) FROM n;\n";
  sql += numbers +
         " INSERT INTO metrics (run_id, name, rank, kind, count, last_value) SELECT 'run' || i, "
         "'test_accuracy', 0, 'scalar', 1, ((i * 7919) % 100000) / 100000.0 FROM n;\n";
  return sql;
}

struct Query {
  std::string label;
  std::vector<std::string> args;
};

// Median wall time of `kiln runs args...` with the store at `store_url`, and how many runs
// it printed.
std::pair<double, std::size_t> TimeRuns(const fs::path& home, const std::string& store_url,
                                        const std::vector<std::string>& args, int times = 5) {
  SpawnOptions options;
  options.argv = {KILN_BINARY, "runs", "--json"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = KilnEnvironment(home, {"KILN_STORE=" + store_url});
  std::vector<double> wall;
  for (int i = 0; i < times; ++i) wall.push_back(TimeCommand(options));
  const Result<CapturedRun> run = RunAndCapture(options, std::chrono::seconds(600));
  const std::size_t count = run.ok() ? nlohmann::json::parse(run->out, nullptr, false).size() : 0;
  return {Median(wall), count};
}

void Report(const std::string& backend, const fs::path& home, const std::string& url) {
  const std::vector<Query> queries = {
      {"metrics.test_accuracy > 0.99 and tags.owner = 'user3'",
       {"--where", "metrics.test_accuracy > 0.99 and tags.owner = 'user3'"}},
      {"status = 'Failed' and params.--lr = '0.000' (2,000 runs)",
       {"--where", "status = 'Failed' and params.--lr = '0.000'"}},
      {"experiment = 'exp3' (10,000 runs) --limit 100",
       {"--where", "experiment = 'exp3'", "--limit", "100"}},
  };
  const auto [peer_ms, all] = TimeRuns(home, url, {}, 3);
  for (const Query& query : queries) {
    const auto [ms, found] = TimeRuns(home, url, query.args);
    fmt::print(
        "{:<9} {:<58} {:>6} runs  {:>8.1f} ms  (target < 200 ms; every run listed: "
        "{:.0f} ms, {:.0f}x)\n",
        backend, query.label, found, ms, peer_ms, peer_ms / ms);
  }
  fmt::print("{:<9} peer: kiln runs --json listed {} runs\n", backend, all);
}

int Main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 100000;
  TestDir dir;
  const fs::path home = dir.path() / "home";
  fs::create_directories(home);

  const fs::path db_path = home / "kiln.db";
  {
    auto store = store::sqlite::SqliteStore::Open(db_path);  // makes the schema
    if (!store.ok()) return fmt::print(stderr, "{}\n", store.status().ToString()), 1;
  }
  {
    auto db = store::sqlite::Database::Open(db_path, 10000);
    if (!db.ok()) return fmt::print(stderr, "{}\n", db.status().ToString()), 1;
    const Status filled = db->Execute("BEGIN;\n" + FillSql(runs) + "COMMIT;");
    if (!filled.ok()) return fmt::print(stderr, "sqlite fill: {}\n", filled.ToString()), 1;
  }
  fmt::print("{} runs in each store; kiln runs --json --where QUERY, median of 5\n", runs);
  Report("sqlite", home, "sqlite://" + db_path.string());

  auto server = store::postgres::PostgresTestServer::Start();
  if (!server.ok()) return fmt::print(stderr, "{}\n", server.status().ToString()), 1;
  const Result<std::string> url = (*server)->CreateDatabase();
  if (!url.ok()) return fmt::print(stderr, "{}\n", url.status().ToString()), 1;
  {
    auto store = store::postgres::PostgresStore::Open(*url);
    if (!store.ok()) return fmt::print(stderr, "{}\n", store.status().ToString()), 1;
  }
  {
    auto db = store::postgres::Connection::Open(*url);
    if (!db.ok()) return fmt::print(stderr, "{}\n", db.status().ToString()), 1;
    const Status filled = (*db)->Execute("BEGIN;\n" + FillSql(runs) + "COMMIT; ANALYZE;");
    if (!filled.ok()) return fmt::print(stderr, "postgres fill: {}\n", filled.ToString()), 1;
  }
  Report("postgres", home, *url);
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) { return kiln::bench::Main(argc, argv); }
