// Many kiln processes using one store at once lose and corrupt nothing.

#include <set>
#include <thread>

#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

class ConcurrencyTest : public KilnTest {};

TEST_F(ConcurrencyTest, ParallelSubmitsAllLand) {
  constexpr int kSubmits = 12;
  const auto project = Project("proj", {{"train.py", "import sys\nprint('run', sys.argv[2])\n"}});
  std::vector<CapturedRun> results(kSubmits);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSubmits; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Kiln({"submit", "--source-directory", project.string(), "--entry-script",
                         "train.py", "--experiment", i % 2 ? "odd" : "even", "--wait", "--",
                         "--index", std::to_string(i)});
    });
  }
  // Readers at the same time.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Kiln({"runs", "--json"}).exit.code, 0);
  for (std::thread& thread : threads) thread.join();

  std::set<std::string> ids;
  for (const CapturedRun& result : results) {
    EXPECT_EQ(result.exit.code, 0) << result.err;
    ids.insert(FirstLine(result.out));
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kSubmits));
  const nlohmann::json runs = KilnJson({"runs", "--json"});
  ASSERT_EQ(runs.size(), static_cast<std::size_t>(kSubmits));
  for (const auto& run : runs) {
    EXPECT_EQ(run["status"], "Completed");
    EXPECT_TRUE(ids.contains(run["id"]));
  }
  const nlohmann::json experiments = KilnJson({"experiments", "--json"});
  ASSERT_EQ(experiments.size(), 2u);
  EXPECT_EQ(experiments[0]["run_count"].get<int>() + experiments[1]["run_count"].get<int>(),
            kSubmits);

  SpawnOptions check;
  check.argv = {"sqlite3", (home() / "kiln.db").string(), "PRAGMA integrity_check"};
  const Result<CapturedRun> integrity = RunAndCapture(check, std::chrono::seconds(30));
  ASSERT_TRUE(integrity.ok());
  EXPECT_EQ(integrity->out, "ok\n");
}

}  // namespace
}  // namespace kiln::e2e
