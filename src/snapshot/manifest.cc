#include "snapshot/manifest.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "snapshot/entry_path.h"

namespace kiln::snapshot {

using nlohmann::json;

namespace {

constexpr std::size_t kSha256HexDigits = 64;

// The key of `object` that is not one of `known`, if any.
std::optional<std::string> UnknownKey(const json& object,
                                      std::initializer_list<const char*> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      return key;
    }
  }
  return std::nullopt;
}

// One entry; DataLoss naming it by index (and path, once known).
Result<ManifestEntry> ParseEntry(const json& item, std::size_t index) {
  std::string where = fmt::format("entries[{}]", index);
  const auto fail = [&](const std::string& problem) {
    return DataLossError(fmt::format("snapshot manifest {}: {}", where, problem));
  };
  if (!item.is_object()) return fail("is not an object");
  if (!item.contains("path") || !item["path"].is_string()) return fail("needs a string 'path'");
  ManifestEntry entry;
  entry.path = item["path"].get<std::string>();
  where += fmt::format(" '{}'", EscapeForMessage(entry.path));
  if (!item.contains("type") || !item["type"].is_string()) {
    return fail("needs 'type': \"file\" or \"symlink\"");
  }
  const std::string type = item["type"].get<std::string>();
  if (type == "symlink") {
    if (const auto key = UnknownKey(item, {"path", "type", "target"})) {
      return fail(fmt::format("a symlink entry has no '{}'", EscapeForMessage(*key)));
    }
    if (!item.contains("target") || !item["target"].is_string()) {
      return fail("needs a string 'target'");
    }
    entry.kind = EntryKind::kSymlink;
    entry.link_target = item["target"].get<std::string>();
    return entry;
  }
  if (type != "file") {
    return fail(fmt::format("has type '{}'; the types are \"file\" and \"symlink\"",
                            EscapeForMessage(type)));
  }
  if (const auto key = UnknownKey(item, {"path", "type", "executable", "size", "sha256"})) {
    return fail(fmt::format("a file entry has no '{}'", EscapeForMessage(*key)));
  }
  if (!item.contains("executable") || !item["executable"].is_boolean()) {
    return fail("needs 'executable': true or false");
  }
  if (!item.contains("size") || !item["size"].is_number_unsigned()) {
    return fail(fmt::format("needs 'size': a whole number of bytes, 0 or more (got {})",
                            item.contains("size") ? item["size"].dump() : "none"));
  }
  if (!item.contains("sha256") || !item["sha256"].is_string()) {
    return fail("needs a string 'sha256'");
  }
  entry.executable = item["executable"].get<bool>();
  entry.size = item["size"].get<std::uint64_t>();
  entry.sha256 = item["sha256"].get<std::string>();
  return entry;
}

}  // namespace

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
  const json in = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (in.is_discarded()) return DataLossError("snapshot manifest is not JSON (or not UTF-8)");
  if (!in.is_object()) return DataLossError("snapshot manifest is not a JSON object");
  if (const auto key = UnknownKey(in, {"version", "entries"})) {
    return DataLossError(
        fmt::format("snapshot manifest has an unknown key '{}'", EscapeForMessage(*key)));
  }
  if (!in.contains("version") || !in["version"].is_number_integer()) {
    return DataLossError("snapshot manifest needs an integer 'version'");
  }
  if (in["version"].get<std::int64_t>() != kManifestVersion) {
    return DataLossError(fmt::format("snapshot manifest has version {}, this Kiln reads {}",
                                     in["version"].dump(), kManifestVersion));
  }
  if (!in.contains("entries") || !in["entries"].is_array()) {
    return DataLossError("snapshot manifest needs an 'entries' list");
  }
  Manifest manifest;
  manifest.entries.reserve(in["entries"].size());
  for (std::size_t i = 0; i < in["entries"].size(); ++i) {
    KILN_ASSIGN_OR_RETURN(ManifestEntry entry, ParseEntry(in["entries"][i], i));
    manifest.entries.push_back(std::move(entry));
  }
  return manifest;
}

std::string ManifestId(std::string_view serialized) { return Sha256::HexOf(serialized); }

bool IsSha256Hex(std::string_view text) {
  return text.size() == kSha256HexDigits && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace kiln::snapshot
