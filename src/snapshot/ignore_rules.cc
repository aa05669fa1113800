#include "snapshot/ignore_rules.h"

#include "common/strings.h"

namespace kiln::snapshot {
namespace {

// Matches a bracket class starting at pattern[i] == '['. On success sets `end` to the index
// after ']' and `matched` to whether `c` is in the class. Returns false for a malformed
// class (no closing ']'), which is then taken literally.
bool MatchClass(std::string_view pattern, std::size_t i, char c, std::size_t& end, bool& matched) {
  std::size_t j = i + 1;
  bool negate = false;
  if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) {
    negate = true;
    ++j;
  }
  bool found = false;
  bool first = true;
  while (j < pattern.size() && (first || pattern[j] != ']')) {
    first = false;
    char low = pattern[j];
    if (low == '\\' && j + 1 < pattern.size()) low = pattern[++j];
    char high = low;
    if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
      high = pattern[j + 2];
      if (high == '\\' && j + 3 < pattern.size()) {
        high = pattern[j + 3];
        ++j;
      }
      j += 2;
    }
    if (c >= low && c <= high) found = true;
    ++j;
  }
  if (j >= pattern.size()) return false;
  end = j + 1;
  matched = found != negate && c != '/';
  return true;
}

bool MatchAt(std::string_view p, std::size_t pi, std::string_view t, std::size_t ti) {
  while (pi < p.size()) {
    const bool segment_start = pi == 0 || p[pi - 1] == '/';
    if (segment_start && p.compare(pi, 3, "**/") == 0) {
      // Zero or more whole folders.
      const std::size_t rest = pi + 3;
      if (MatchAt(p, rest, t, ti)) return true;
      for (std::size_t k = ti; k < t.size(); ++k) {
        if (t[k] == '/' && MatchAt(p, rest, t, k + 1)) return true;
      }
      return false;
    }
    if (segment_start && pi + 2 == p.size() && p.compare(pi, 2, "**") == 0) {
      return ti < t.size();  // Everything inside, at any depth.
    }
    const char c = p[pi];
    if (c == '*') {
      while (pi < p.size() && p[pi] == '*') ++pi;
      for (std::size_t k = ti;; ++k) {
        if (MatchAt(p, pi, t, k)) return true;
        if (k >= t.size() || t[k] == '/') return false;
      }
    }
    if (ti >= t.size()) return false;
    if (c == '?') {
      if (t[ti] == '/') return false;
      ++pi;
      ++ti;
      continue;
    }
    if (c == '[') {
      std::size_t end = 0;
      bool matched = false;
      if (MatchClass(p, pi, t[ti], end, matched)) {
        if (!matched) return false;
        pi = end;
        ++ti;
        continue;
      }
    }
    char literal = c;
    if (c == '\\' && pi + 1 < p.size()) literal = p[++pi];
    if (literal != t[ti]) return false;
    ++pi;
    ++ti;
  }
  return ti == t.size();
}

// Drops trailing spaces unless the last one is escaped with a backslash.
std::string_view TrimTrailingSpaces(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
    if (line.size() >= 2 && line[line.size() - 2] == '\\') break;
    line.remove_suffix(1);
  }
  return line;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  return MatchAt(pattern, 0, text, 0);
}

void IgnoreRules::AddFile(std::string_view base, std::string_view contents) {
  for (const std::string& line : SplitString(contents, '\n')) AddPattern(base, line);
}

void IgnoreRules::AddPattern(std::string_view base, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  line = TrimTrailingSpaces(line);
  if (line.empty() || line.front() == '#') return;
  Rule rule;
  if (!base.empty()) {
    rule.base = std::string(base);
    if (rule.base.back() != '/') rule.base += '/';
  }
  if (line.front() == '!') {
    rule.negated = true;
    line.remove_prefix(1);
  } else if (line.starts_with("\\!") || line.starts_with("\\#")) {
    line.remove_prefix(1);
  }
  if (!line.empty() && line.back() == '/') {
    rule.directory_only = true;
    line.remove_suffix(1);
  }
  if (line.empty()) return;
  // A '/' at the start or in the middle anchors the pattern to the ignore file's folder.
  rule.anchored = line.find('/') != std::string_view::npos;
  if (line.front() == '/') line.remove_prefix(1);
  if (line.empty()) return;
  rule.pattern = std::string(line);
  rules_.push_back(std::move(rule));
}

bool IgnoreRules::IsIgnored(std::string_view path, bool is_directory) const {
  bool ignored = false;
  for (const Rule& rule : rules_) {
    // Only a rule that can change the verdict needs matching: an exclusion while the path
    // is included, or a negation while it is excluded.
    if (rule.negated != ignored) continue;
    if (rule.directory_only && !is_directory) continue;
    if (!path.starts_with(rule.base)) continue;
    const std::string_view relative = path.substr(rule.base.size());
    if (relative.empty()) continue;
    std::string_view subject = relative;
    if (!rule.anchored) {
      const std::size_t slash = relative.rfind('/');
      if (slash != std::string_view::npos) subject = relative.substr(slash + 1);
    }
    if (GlobMatch(rule.pattern, subject)) ignored = !rule.negated;
  }
  return ignored;
}

}  // namespace kiln::snapshot
