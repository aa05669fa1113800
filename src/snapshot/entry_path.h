#pragma once

// The names a snapshot may hold. A manifest is JSON, so its paths and link targets must be
// UTF-8; and a path must name a place inside the snapshot. The same rules hold for a folder
// being scanned (source_scan.h) and for a manifest received from a client
// (manifest_check.h), so what a client may snapshot a server accepts.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::snapshot {

// Longest entry path and link target, in bytes (PATH_MAX less its NUL), the longest path
// component (NAME_MAX), and the deepest folder nesting accepted.
inline constexpr std::size_t kMaxPathBytes = 4095;
inline constexpr std::size_t kMaxComponentBytes = 255;
inline constexpr std::size_t kMaxPathDepth = 256;

// What is wrong with `text` as manifest text: "byte 0xE9 at offset 3 is not valid UTF-8",
// "it holds the control character 0x0A at offset 5"; nullopt when it is well-formed UTF-8
// without control characters (NUL, 0x01-0x1F, 0x7F).
std::optional<std::string> TextProblem(std::string_view text);

// What is wrong with `path` as an entry path: TextProblem(), or it is empty, absolute, too
// long, too deep, or has an empty, "." or ".." component. nullopt for a path that stays
// inside the snapshot.
std::optional<std::string> EntryPathProblem(std::string_view path);

// `text` for a message: bytes that are not printable UTF-8 as \xNN, a backslash as "\\".
std::string EscapeForMessage(std::string_view text);

// A line for an ignore file that matches exactly `path` (relative to the folder scanned):
// anchored with '/', glob characters escaped, each byte TextProblem() objects to as '?'.
std::string IgnoreLineFor(std::string_view path, bool is_directory);

}  // namespace kiln::snapshot
