#include "common/tunables.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/files.h"
#include "common/strings.h"

namespace kiln {

Result<std::int64_t> ReadTunable(const IntTunable& tunable) {
  const char* raw = std::getenv(std::string(tunable.env).c_str());
  if (raw == nullptr || *raw == '\0') return tunable.default_value;
  const std::optional<std::int64_t> value = ParseInt64(TrimWhitespace(raw));
  if (!value || *value < tunable.min_value) {
    return InvalidArgumentError(
        fmt::format("{}: must be an integer >= {}, got '{}'", tunable.env, tunable.min_value, raw));
  }
  return *value;
}

std::string ReadTunable(const StringTunable& tunable) {
  const char* raw = std::getenv(std::string(tunable.env).c_str());
  if (raw == nullptr || *raw == '\0') return std::string(tunable.default_value);
  return raw;
}

std::filesystem::path KilnHome() { return AbsolutePath(ReadTunable(kKilnHome)); }

}  // namespace kiln
