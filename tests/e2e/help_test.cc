// Every command explains itself.

#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

class HelpTest : public KilnTest {};

TEST_F(HelpTest, TopLevelListsEveryCommand) {
  const CapturedRun help = Kiln({"--help"});
  EXPECT_EQ(help.exit.code, 0);
  for (const char* command : {"submit", "runs", "show", "logs", "cancel", "experiments",
                              "datastore", "artifacts", "download", "snapshot", "launch"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
  }
  EXPECT_EQ(Kiln({"--version"}).out, "kiln 0.1.0\n");
}

TEST_F(HelpTest, EachCommandDescribesItsOptions) {
  const std::map<std::vector<std::string>, std::vector<std::string>> expected = {
      {{"submit"},
       {"--stream", "--wait", "--node-count", "--process-count-per-node", "--distributed-backend",
        "--script-param", "--use-gpu", "--pip-package", "--conda-package",
        "--max-run-duration-seconds", "--python", "--environment", "--tag", "--env"}},
      {{"runs"}, {"--experiment", "--status", "--json"}},
      {{"show"}, {"--json"}},
      {{"logs"}, {"--follow", "--timestamps", "--json"}},
      {{"cancel"}, {"--no-wait", "--timeout"}},
      {{"datastore", "register"}, {"--path"}},
      {{"datastore", "list"}, {"--json"}},
      {{"env", "list"}, {"--json"}},
      {{"env", "prune"}, {"--unused-for"}},
      {{"download"}, {"--output"}},
      {{"snapshot"}, {"--output"}},
      {{"launch"}, {"--lock-fd"}},
  };
  for (const auto& [command, options] : expected) {
    std::vector<std::string> args = command;
    args.push_back("--help");
    const CapturedRun help = Kiln(args);
    EXPECT_EQ(help.exit.code, 0) << command[0];
    for (const std::string& option : options) {
      EXPECT_NE(help.out.find(option), std::string::npos) << command[0] << " " << option;
    }
  }
}

TEST_F(HelpTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(Kiln({}).exit.code, 2);
  EXPECT_EQ(Kiln({"frobnicate"}).exit.code, 2);
  EXPECT_EQ(Kiln({"show"}).exit.code, 2);
  const CapturedRun stray = Kiln({"runs", "--", "x"});
  EXPECT_EQ(stray.exit.code, 2);
  EXPECT_EQ(stray.err,
            "error: arguments after '--' are only taken by 'kiln submit' (and 'kiln exec-rank')\n");
}

}  // namespace
}  // namespace kiln::e2e
