#pragma once

// Checks of text that reaches a path, an argument or a message: UTF-8 and control
// characters, reported with the byte offset of the first offending byte.

#include <optional>
#include <string>
#include <string_view>

namespace kiln::spec {

enum class TextKind {
  kLine,      // a path, a name, a line of text: no control characters at all
  kArgument,  // an argument or a variable's value: anything but NUL
};

// What is wrong with `text` as `kind`, subject first ("byte offset 3 is not valid UTF-8
// (0xe9)", "byte offset 0 is a newline, which is not allowed here"); nullopt when nothing
// is.
std::optional<std::string> TextProblem(std::string_view text, TextKind kind);

// `text` for a message: control characters and bytes that are not UTF-8 written as
// escapes ("caf\xe9", "a\nb"), so a message never carries them.
std::string Printable(std::string_view text);

}  // namespace kiln::spec
