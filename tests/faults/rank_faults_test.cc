// One rank killed (SIGKILL) in the middle of a stream of allreduces on Kiln's collective
// runtime: the run fails naming that rank, the surviving rank does not hang on its peer,
// and no process or shared-memory segment of the run is left.

#include <fmt/format.h>
#include <signal.h>

#include <regex>
#include <thread>

#include "common/files.h"
#include "faults/fault_fixture.h"

namespace kiln::faults {
namespace {

class RankFaultTest : public FaultTest {};

TEST_F(RankFaultTest, RankKilledDuringAllreduce) {
  const auto project =
      Project("proj", {{"train.py",
                        "import os\nimport torch\nimport horovod.torch as hvd\nhvd.init()\n"
                        "t = torch.ones(4096)\nprint('ready', os.getpid(), flush=True)\n"
                        "while True:\n    hvd.allreduce(t, name='grad')\n"}});
  const std::string id =
      Submit(Embedded(), {"--source-directory", project.string(), "--entry-script", "train.py",
                          "--process-count-per-node", "2", "--distributed-backend", "gloo"});
  ASSERT_FALSE(id.empty());
  pid_t rank1 = 0;
  const std::regex ready("ready ([0-9]+)");
  for (int i = 0; i < 1200 && rank1 == 0; ++i) {
    const std::string log = FileText(RunDir(id) / "logs" / "rank-1.log");
    std::smatch match;
    if (std::regex_search(log, match, ready)) rank1 = static_cast<pid_t>(std::stoi(match[1]));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(rank1, 0) << "rank 1 never said it was ready";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // allreduces in flight
  ASSERT_EQ(::kill(rank1, SIGKILL), 0);
  Settle("rank 1 SIGKILL during allreduce", Embedded(), id, home() / "runs",
         {"Failed", "rank 1 was killed by SIGKILL", ""});
}

}  // namespace
}  // namespace kiln::faults
