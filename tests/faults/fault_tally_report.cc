// fault_tally_report FILE: prints the fault suite's table (faults/fault_tally.h). Exits 1
// when the file cannot be read or a row shows a fault that was not survived.

#include <iostream>

#include "faults/fault_tally.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fault_tally_report FILE\n";
    return 2;
  }
  const auto outcomes = kiln::faults::ReadFaults(argv[1]);
  if (!outcomes.ok()) {
    std::cerr << outcomes.status().ToString() << "\n";
    return 1;
  }
  std::cout << kiln::faults::FaultTable(*outcomes);
  for (const kiln::faults::FaultOutcome& row : *outcomes) {
    if (!row.state_right || row.points_lost || row.points_duplicated || row.processes_left ||
        row.files_left) {
      return 1;
    }
  }
  return 0;
}
