#include "cli/duration_flag.h"

#include <fmt/format.h>

#include <limits>

#include "common/strings.h"

namespace kiln::cli {

Result<std::chrono::seconds> ParseDuration(std::string_view flag, const std::string& text) {
  if (text.size() >= 2) {
    const std::optional<std::int64_t> count = ParseInt64(text.substr(0, text.size() - 1));
    const char unit = text.back();
    const std::int64_t scale = unit == 'd'   ? 86400
                               : unit == 'h' ? 3600
                               : unit == 'm' ? 60
                               : unit == 's' ? 1
                                             : 0;
    if (count && *count >= 0 && scale > 0 &&
        *count <= std::numeric_limits<std::int64_t>::max() / scale) {
      return std::chrono::seconds(*count * scale);
    }
  }
  return InvalidArgumentError(fmt::format(
      "{}: '{}' is not a duration; give a number and a unit: 30d, 12h, 90m or 45s", flag, text));
}

}  // namespace kiln::cli
