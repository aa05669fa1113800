#pragma once

// Small string helpers shared by every folder.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

std::string_view TrimWhitespace(std::string_view text);

// Splits on `separator`, keeping empty pieces ("a,,b" -> {"a", "", "b"}).
std::vector<std::string> SplitString(std::string_view text, char separator);

std::string JoinStrings(std::span<const std::string> pieces, std::string_view separator);

// Levenshtein distance, for "did you mean" suggestions.
int EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a likely typo (at most a
// third of the word's length in edits, minimum 1); nullopt otherwise.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        std::span<const std::string_view> candidates);

// "1.5 GB", "300 MB", "12 KB", "17 B" (decimal units, as `du --si` and file managers show).
std::string HumanBytes(std::uint64_t bytes);

// "2,000" style thousands separators.
std::string HumanCount(std::uint64_t count);

// Parses a base-10 integer that must be the whole of `text` (no spaces, no suffix).
std::optional<std::int64_t> ParseInt64(std::string_view text);

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0 when none starts there.
std::size_t Utf8SequenceLength(std::string_view text);

// The offset of the first byte of `text` that is not part of well-formed UTF-8 (overlong
// forms, surrogates and code points past U+10FFFF are not); nullopt when all of it is.
std::optional<std::size_t> FirstInvalidUtf8(std::string_view text);

// Quotes a string for a POSIX shell when it needs it ("a b" -> "'a b'").
std::string ShellQuote(std::string_view text);

// `text` as valid UTF-8: each byte that does not begin a well-formed sequence (a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate, past U+10FFFF)
// becomes U+FFFD. Valid text comes back unchanged.
std::string ValidUtf8(std::string_view text);

// "1st", "2nd", "3rd", "11th", "22nd".
std::string Ordinal(std::size_t n);

}  // namespace kiln
