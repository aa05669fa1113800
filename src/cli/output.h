#pragma once

// How the kiln command prints: tables and JSON for data on stdout, messages on stderr.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace kiln::cli {

// A plain text table with a header row; columns are as wide as their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

void PrintJson(const nlohmann::json& value);
// "error: <message>" on stderr.
void PrintError(const Status& status);
// A line on stderr.
void PrintNote(const std::string& line);

}  // namespace kiln::cli
