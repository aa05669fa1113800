#include "faults/fault_tally.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "common/files.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace kiln::faults {

namespace {
constexpr std::size_t kColumns = 7;
}

void RecordFault(const FaultOutcome& outcome) {
  const std::string row =
      fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", outcome.fault, outcome.final_state,
                  outcome.state_right ? 1 : 0, outcome.points_lost, outcome.points_duplicated,
                  outcome.processes_left, outcome.files_left);
  std::cout << "fault tally: " << row << std::flush;
  const char* file = std::getenv("KILN_FAULT_TALLY");
  if (file == nullptr || *file == '\0') return;
  // O_APPEND: rows of tests running at once never interleave (one write each).
  UniqueFd fd(::open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd || ::write(fd.get(), row.data(), row.size()) != static_cast<ssize_t>(row.size())) {
    std::cerr << "fault tally: cannot append to " << file << "\n";
  }
}

Result<std::vector<FaultOutcome>> ReadFaults(const std::filesystem::path& file) {
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(file));
  std::vector<FaultOutcome> outcomes;
  int number = 0;
  for (const std::string& line : SplitString(text, '\n')) {
    ++number;
    if (line.empty()) continue;
    const std::vector<std::string> cells = SplitString(line, '\t');
    const auto count = [&](std::size_t i) { return ParseInt64(cells[i]).value_or(-1); };
    if (cells.size() != kColumns || count(3) < 0 || count(4) < 0 || count(5) < 0 || count(6) < 0) {
      return DataLossError(fmt::format("{}:{}: not a fault tally row", file.string(), number));
    }
    outcomes.push_back({cells[0], cells[1], cells[2] == "1", static_cast<std::uint64_t>(count(3)),
                        static_cast<std::uint64_t>(count(4)), static_cast<std::size_t>(count(5)),
                        static_cast<std::size_t>(count(6))});
  }
  return outcomes;
}

std::string FaultTable(const std::vector<FaultOutcome>& outcomes) {
  constexpr std::string_view kRow = "{:<56} {:<16} {:<5} {:>5} {:>10} {:>5} {:>5}\n";
  std::string out =
      fmt::format(kRow, "fault", "final state", "right", "lost", "duplicated", "procs", "files");
  std::size_t right = 0;
  FaultOutcome total;
  for (const FaultOutcome& row : outcomes) {
    out += fmt::format(kRow, row.fault, row.final_state, row.state_right ? "yes" : "NO",
                       row.points_lost, row.points_duplicated, row.processes_left, row.files_left);
    right += row.state_right ? 1 : 0;
    total.points_lost += row.points_lost;
    total.points_duplicated += row.points_duplicated;
    total.processes_left += row.processes_left;
    total.files_left += row.files_left;
  }
  out += fmt::format(
      "faults injected: {}; final state right: {}; points lost: {}; points duplicated: {}; "
      "processes left: {}; files left: {}\n",
      outcomes.size(), right, total.points_lost, total.points_duplicated, total.processes_left,
      total.files_left);
  return out;
}

}  // namespace kiln::faults
