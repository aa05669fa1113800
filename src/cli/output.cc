#include "cli/output.h"

#include <algorithm>
#include <iostream>

namespace kiln::cli {

std::string Table::Render() const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// Bytes that are not UTF-8 (a file name a script wrote) print as U+FFFD instead of throwing.
void PrintJson(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void PrintError(const Status& status) { std::cerr << "error: " << status.message() << "\n"; }

void PrintNote(const std::string& line) { std::cerr << line << "\n"; }

}  // namespace kiln::cli
