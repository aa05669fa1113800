#include "spec/text_checks.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace kiln::spec {

std::string Printable(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::optional<std::size_t> bad = FirstInvalidUtf8(text.substr(i));
    const std::size_t good_end = bad ? i + *bad : text.size();
    for (; i < good_end; ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c == '\n') {
        out += "\\n";
      } else if (c < 0x20 || c == 0x7f) {
        out += fmt::format("\\x{:02x}", c);
      } else {
        out += static_cast<char>(c);
      }
    }
    if (i < text.size()) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i++]));
  }
  return out;
}

namespace {

std::string ControlName(unsigned char c) {
  if (c == '\n') return "a newline";
  if (c == '\r') return "a carriage return";
  if (c == '\t') return "a tab";
  if (c == 0) return "a NUL byte";
  return fmt::format("the control character 0x{:02x}", c);
}

}  // namespace

std::optional<std::string> TextProblem(std::string_view text, TextKind kind) {
  if (const std::optional<std::size_t> bad = FirstInvalidUtf8(text)) {
    return fmt::format("byte offset {} is not valid UTF-8 (0x{:02x})", *bad,
                       static_cast<unsigned char>(text[*bad]));
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool refused = kind == TextKind::kLine ? (c < 0x20 || c == 0x7f) : c == 0;
    if (refused) {
      return fmt::format("byte offset {} is {}, which is not allowed here", i, ControlName(c));
    }
  }
  return std::nullopt;
}

}  // namespace kiln::spec
