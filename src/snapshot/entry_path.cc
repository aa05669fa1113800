#include "snapshot/entry_path.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace kiln::snapshot {

namespace {

constexpr unsigned char kDelete = 0x7f;
constexpr unsigned char kFirstPrintable = 0x20;

bool IsControl(unsigned char c) { return c < kFirstPrintable || c == kDelete; }

}  // namespace

std::optional<std::string> TextProblem(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      return fmt::format("byte 0x{:02X} at offset {} is not valid UTF-8", c, i);
    }
    if (IsControl(c)) {
      return fmt::format("it holds the control character 0x{:02X} at offset {}", c, i);
    }
    i += length;
  }
  return std::nullopt;
}

std::optional<std::string> EntryPathProblem(std::string_view path) {
  if (path.empty()) return "it is empty";
  if (std::optional<std::string> problem = TextProblem(path)) return problem;
  if (path.front() == '/') return "it is absolute; entry paths are relative to the snapshot";
  if (path.size() > kMaxPathBytes) {
    return fmt::format("it is {} bytes long; the most is {}", path.size(), kMaxPathBytes);
  }
  std::size_t depth = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return "it has an empty component ('//' or a trailing '/')";
    if (part == "." || part == "..") {
      return fmt::format("it has a '{}' component; entries stay inside the snapshot", part);
    }
    if (part.size() > kMaxComponentBytes) {
      return fmt::format("a component is {} bytes long; the most is {}", part.size(),
                         kMaxComponentBytes);
    }
    if (++depth > kMaxPathDepth) {
      return fmt::format("it is more than {} folders deep", kMaxPathDepth);
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::nullopt;
}

std::string EscapeForMessage(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0 || IsControl(c)) {
      out += fmt::format("\\x{:02X}", c);
      ++i;
    } else if (c == '\\') {
      out += "\\\\";
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string IgnoreLineFor(std::string_view path, bool is_directory) {
  std::string line = "/";
  for (std::size_t i = 0; i < path.size();) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    const std::size_t length = Utf8SequenceLength(path.substr(i));
    if (length == 0 || IsControl(c)) {
      line += '?';
      ++i;
      continue;
    }
    if (c == '*' || c == '?' || c == '[' || c == '\\') line += '\\';
    // A trailing space is dropped from an ignore line unless escaped.
    if (c == ' ' && i + 1 == path.size()) line += '\\';
    line.append(path.substr(i, length));
    i += length;
  }
  if (is_directory) line += '/';
  return line;
}

}  // namespace kiln::snapshot
