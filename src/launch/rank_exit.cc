#include "launch/rank_exit.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/files.h"

namespace kiln::launch {

Status WriteRankExit(const RunDir& dir, const RankExit& record) {
  const nlohmann::json json = {
      {"version", 1},
      {"rank", record.rank},
      {"signaled", record.exit.signaled},
      {"code", record.exit.code},
      {"signal", record.exit.signal},
      {"ended_at_us", record.ended_at},
      {"tail", record.tail},
  };
  return WriteFileAtomically(dir.rank_exit(record.rank), json.dump() + "\n",
                             Durability::kCacheOnly);
}

Result<RankExit> ReadRankExit(const RunDir& dir, int rank) {
  const std::filesystem::path path = dir.rank_exit(rank);
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return NotFoundError(fmt::format("rank {} has not ended", rank));
  }
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    RankExit record;
    record.rank = json.at("rank").get<int>();
    record.exit.signaled = json.at("signaled").get<bool>();
    record.exit.code = json.at("code").get<int>();
    record.exit.signal = json.at("signal").get<int>();
    record.ended_at = json.at("ended_at_us").get<Timestamp>();
    record.tail = json.at("tail").get<std::vector<std::string>>();
    if (record.rank != rank) {
      return DataLossError(fmt::format("{} is about rank {}", path.string(), record.rank));
    }
    return record;
  } catch (const nlohmann::json::exception& e) {
    return DataLossError(fmt::format("{} is not a rank exit record: {}", path.string(), e.what()));
  }
}

}  // namespace kiln::launch
