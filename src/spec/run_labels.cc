#include "spec/run_labels.h"

#include <fmt/format.h>

#include <regex>

#include "spec/text_checks.h"

namespace kiln::spec {

std::optional<std::string> DisplayNameProblem(std::string_view name) {
  if (std::optional<std::string> problem = TextProblem(name, TextKind::kLine)) return problem;
  if (name.size() > kMaxDisplayName) {
    return fmt::format("must be at most {} characters, got {}", kMaxDisplayName, name.size());
  }
  return std::nullopt;
}

std::optional<std::string> TagKeyProblem(std::string_view key) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]*");
  if (!key.empty() && key.size() <= kMaxTagKey &&
      std::regex_match(key.begin(), key.end(), kPattern)) {
    return std::nullopt;
  }
  return fmt::format(
      "keys must be 1 to {} letters, digits, '.', '_' or '-', starting with a letter or digit; "
      "got '{}'",
      kMaxTagKey, Printable(key));
}

std::optional<std::string> TagValueProblem(std::string_view value) {
  if (std::optional<std::string> problem = TextProblem(value, TextKind::kLine)) {
    return "the value's " + *problem;
  }
  if (value.size() > kMaxTagValue) {
    return fmt::format("values may hold at most {} bytes, got {}", kMaxTagValue, value.size());
  }
  return std::nullopt;
}

std::optional<std::string> DescriptionProblem(std::string_view text) {
  // Lines and tabs are a description's own; every other control character is refused.
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\n' && byte != '\t') || byte == 0x7f) {
      return fmt::format(
          "byte offset {} is a control character (0x{:02x}), which is not allowed "
          "here",
          i, byte);
    }
  }
  if (std::optional<std::string> problem = TextProblem(text, TextKind::kArgument)) return problem;
  if (text.size() > kMaxDescription) {
    return fmt::format("must be at most {} bytes, got {}", kMaxDescription, text.size());
  }
  return std::nullopt;
}

}  // namespace kiln::spec
