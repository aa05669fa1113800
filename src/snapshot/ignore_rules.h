#pragma once

// IgnoreRules: which paths of a source tree stay out of its snapshot, in gitignore syntax.
//
// Each folder may hold an ignore file: `.kilnignore`, or `.gitignore` when that folder has
// no `.kilnignore`. Its patterns apply to the paths below that folder. As in git:
//   - blank lines and lines starting with '#' are skipped; "\#" and "\!" escape;
//     trailing spaces are dropped unless escaped;
//   - '!' re-includes what an earlier pattern excluded (but nothing inside an excluded
//     folder, which is never entered);
//   - a pattern with a '/' at its start or middle is matched against the path relative to
//     the ignore file's folder; one without is matched against the last path component at
//     any depth;
//   - a trailing '/' matches folders only;
//   - '*' and '?' do not match '/'; "[a-z]", "[!a-z]" are classes; "**/" matches any
//     number of folders, a trailing "/**" everything inside.
// The last matching pattern decides; deeper ignore files come after shallower ones.
//
// Thread-compatible: build it on one thread, then query from any.

#include <string>
#include <string_view>
#include <vector>

namespace kiln::snapshot {

class IgnoreRules {
 public:
  // Adds the patterns of an ignore file found in folder `base` ("" for the root,
  // otherwise "sub/dir", '/'-separated, relative to the root).
  void AddFile(std::string_view base, std::string_view contents);
  // Adds one pattern, as if it were a line of an ignore file in `base`.
  void AddPattern(std::string_view base, std::string_view line);

  // True when `path` (relative to the root, '/'-separated) is ignored.
  bool IsIgnored(std::string_view path, bool is_directory) const;

 private:
  struct Rule {
    std::string base;     // "" or "sub/dir/" (with the trailing slash)
    std::string pattern;  // without '!', leading '/' and trailing '/'
    bool negated = false;
    bool directory_only = false;
    bool anchored = false;  // matched against the whole relative path
  };
  std::vector<Rule> rules_;
};

// Matches a gitignore glob against `text` ('/'-separated). Exposed for tests.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace kiln::snapshot
