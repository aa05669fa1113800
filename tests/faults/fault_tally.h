#pragma once

// The fault suite's tally: what each injected fault left behind (docs/testing.md, "Fault
// suite"). Every test appends a row per fault it injects, passed or not, to the file named
// by KILN_FAULT_TALLY; ctest runs each test in its own process, so the file is the suite's
// memory, and fault_tally_report prints it as one table with totals:
//
//   fault                                  final state  right  lost  duplicated  procs  files
//   launcher SIGKILL while Running         Failed       yes    0     0           0      0

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"

namespace kiln::faults {

struct FaultOutcome {
  std::string fault;         // what was injected, and when
  std::string final_state;   // the run's status after it ("-" when no run was made)
  bool state_right = false;  // the expected status and reason, within the time allowed
  std::uint64_t points_lost = 0;
  std::uint64_t points_duplicated = 0;
  std::size_t processes_left = 0;  // of the run
  std::size_t files_left = 0;      // temporary files and /dev/shm segments
};

// Appends one row to $KILN_FAULT_TALLY (nothing when it is unset) and prints it.
void RecordFault(const FaultOutcome& outcome);

// The rows in `file`, in the order they were added. DataLoss names a malformed line.
Result<std::vector<FaultOutcome>> ReadFaults(const std::filesystem::path& file);

// The table and its totals line.
std::string FaultTable(const std::vector<FaultOutcome>& outcomes);

}  // namespace kiln::faults
