#pragma once

// The rules for what describes a run, whether it is set at submit (the job spec's
// display_name and tags, validate.h) or changed later (kiln tag, PATCH /v1/runs/{id}):
// each check returns what is wrong, worded without the field's name, or nullopt.

#include <optional>
#include <string>
#include <string_view>

namespace kiln::spec {

inline constexpr std::size_t kMaxDisplayName = 256;
inline constexpr std::size_t kMaxTagKey = 128;
inline constexpr std::size_t kMaxTagValue = 1024;
inline constexpr std::size_t kMaxDescription = 64 * 1024;

// One line of at most kMaxDisplayName bytes.
std::optional<std::string> DisplayNameProblem(std::string_view name);
// 1 to kMaxTagKey letters, digits, '.', '_' or '-', starting with a letter or digit.
std::optional<std::string> TagKeyProblem(std::string_view key);
// One line of at most kMaxTagValue bytes.
std::optional<std::string> TagValueProblem(std::string_view value);
// UTF-8 text of any number of lines (tabs allowed, no other control characters), at most
// kMaxDescription bytes.
std::optional<std::string> DescriptionProblem(std::string_view text);

}  // namespace kiln::spec
