#include "snapshot/manifest.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"

namespace kiln::snapshot {

using nlohmann::json;

std::uint64_t Manifest::total_bytes() const {
  std::uint64_t total = 0;
  for (const ManifestEntry& entry : entries) total += entry.size;
  return total;
}

std::string SerializeManifest(const Manifest& manifest) {
  json entries = json::array();
  for (const ManifestEntry& entry : manifest.entries) {
    if (entry.kind == EntryKind::kSymlink) {
      entries.push_back({{"path", entry.path}, {"type", "symlink"}, {"target", entry.link_target}});
    } else {
      entries.push_back({{"path", entry.path},
                         {"type", "file"},
                         {"executable", entry.executable},
                         {"size", entry.size},
                         {"sha256", entry.sha256}});
    }
  }
  // nlohmann's objects keep keys sorted, so dump() is canonical.
  return json{{"version", kManifestVersion}, {"entries", entries}}.dump();
}

Result<Manifest> ParseManifest(std::string_view text) {
  try {
    const json in = json::parse(text);
    if (in.at("version").get<int>() != kManifestVersion) {
      return DataLossError(fmt::format("snapshot manifest has version {}, this Kiln reads {}",
                                       in.at("version").get<int>(), kManifestVersion));
    }
    Manifest manifest;
    for (const json& item : in.at("entries")) {
      ManifestEntry entry;
      entry.path = item.at("path").get<std::string>();
      const std::string type = item.at("type").get<std::string>();
      if (type == "symlink") {
        entry.kind = EntryKind::kSymlink;
        entry.link_target = item.at("target").get<std::string>();
      } else if (type == "file") {
        entry.executable = item.at("executable").get<bool>();
        entry.size = item.at("size").get<std::uint64_t>();
        entry.sha256 = item.at("sha256").get<std::string>();
      } else {
        return DataLossError(fmt::format("snapshot manifest has an entry of type '{}'", type));
      }
      manifest.entries.push_back(std::move(entry));
    }
    return manifest;
  } catch (const json::exception& error) {
    return DataLossError(fmt::format("snapshot manifest is unreadable: {}", error.what()));
  }
}

std::string ManifestId(std::string_view serialized) { return Sha256::HexOf(serialized); }

}  // namespace kiln::snapshot
