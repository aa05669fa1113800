#include "data/datastore_ref.h"

#include <fmt/format.h>

#include <filesystem>
#include <regex>

namespace kiln::data {

namespace {
constexpr std::string_view kOpen = "{datastore:";
constexpr std::size_t kMaxNameLength = 64;
}  // namespace

std::string_view DataModeName(DataMode mode) {
  return mode == DataMode::kDownload ? "download" : "mount";
}

bool IsValidDatastoreName(std::string_view name) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9_-]*");
  return !name.empty() && name.size() <= kMaxNameLength &&
         std::regex_match(name.begin(), name.end(), kPattern);
}

Result<std::vector<DatastoreRef>> FindReferences(std::string_view value) {
  std::vector<DatastoreRef> refs;
  std::size_t pos = 0;
  while ((pos = value.find(kOpen, pos)) != std::string_view::npos) {
    const std::size_t close = value.find('}', pos);
    if (close == std::string_view::npos) {
      return InvalidArgumentError(
          fmt::format("'{}' has an unclosed datastore reference; write {{datastore:NAME}} or "
                      "{{datastore:NAME/sub/path:download}}",
                      value));
    }
    std::string_view body = value.substr(pos + kOpen.size(), close - pos - kOpen.size());
    DatastoreRef ref;
    ref.begin = pos;
    ref.end = close + 1;
    if (const std::size_t colon = body.rfind(':'); colon != std::string_view::npos) {
      const std::string_view mode = body.substr(colon + 1);
      if (mode == "download") {
        ref.mode = DataMode::kDownload;
      } else if (mode != "mount") {
        return InvalidArgumentError(
            fmt::format("'{}' asks for mode '{}'; the modes are mount (the default) and download",
                        value.substr(pos, ref.end - pos), mode));
      }
      body = body.substr(0, colon);
    }
    const std::size_t slash = body.find('/');
    ref.datastore = std::string(body.substr(0, slash));
    if (!IsValidDatastoreName(ref.datastore)) {
      return InvalidArgumentError(
          fmt::format("'{}' does not name a datastore; names are letters, digits, '_' and '-'",
                      value.substr(pos, ref.end - pos)));
    }
    if (slash != std::string_view::npos) {
      const std::filesystem::path sub =
          std::filesystem::path(std::string(body.substr(slash + 1))).lexically_normal();
      const std::string sub_text = sub.generic_string();
      if (sub.is_absolute() || sub_text.starts_with("..")) {
        return InvalidArgumentError(fmt::format("'{}' points outside datastore '{}'",
                                                value.substr(pos, ref.end - pos), ref.datastore));
      }
      ref.sub_path = sub_text == "." ? "" : sub_text;
      if (ref.sub_path.ends_with('/')) ref.sub_path.pop_back();
    }
    refs.push_back(std::move(ref));
    pos = close + 1;
  }
  return refs;
}

}  // namespace kiln::data
