#include "common/redact.h"

#include <algorithm>
#include <cctype>

namespace kiln {
namespace {

// Where a URL ends inside free text: at a blank, a quote or a bracket that closes it.
bool EndsUrl(char c) {
  return std::isspace(static_cast<unsigned char>(c)) ||
         std::string_view("\"'<>`()[]{}").find(c) != std::string_view::npos;
}

bool IsSecretKey(std::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view word : {"password", "passwd", "token", "secret"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// Whether a user name alone is taken for a token: on the web (https://TOKEN@host, as pip
// and git take it), not in a database URL, whose user is a role name.
bool UserMayBeAToken(std::string_view scheme) {
  return scheme.ends_with("http") || scheme.ends_with("https");
}

// One URL's text, from just after "://" to its end.
std::string RedactAfterScheme(std::string_view scheme, std::string_view rest) {
  std::string out;
  const std::size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view authority = rest.substr(0, authority_end);
  const std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    out += authority;
  } else {
    const std::string_view userinfo = authority.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      out += UserMayBeAToken(scheme) ? std::string(kRedacted) : std::string(userinfo);
    } else {
      out += userinfo.substr(0, colon + 1);
      out += kRedacted;
    }
    out += authority.substr(at);
  }
  std::string_view tail = rest.substr(authority_end);
  const std::size_t query = tail.find('?');
  if (query == std::string_view::npos) {
    out += tail;
    return out;
  }
  out += tail.substr(0, query + 1);
  tail.remove_prefix(query + 1);
  const std::size_t fragment = std::min(tail.find('#'), tail.size());
  std::string_view parameters = tail.substr(0, fragment);
  bool first = true;
  while (true) {
    const std::size_t amp = std::min(parameters.find('&'), parameters.size());
    const std::string_view parameter = parameters.substr(0, amp);
    if (!first) out += '&';
    first = false;
    const std::size_t equals = parameter.find('=');
    if (equals != std::string_view::npos && IsSecretKey(parameter.substr(0, equals))) {
      out += parameter.substr(0, equals + 1);
      out += kRedacted;
    } else {
      out += parameter;
    }
    if (amp == parameters.size()) break;
    parameters.remove_prefix(amp + 1);
  }
  out += tail.substr(fragment);
  return out;
}

}  // namespace

std::string RedactUrlCredentials(std::string_view text) {
  std::string out;
  std::size_t done = 0;
  while (true) {
    const std::size_t scheme = text.find("://", done);
    if (scheme == std::string_view::npos) break;
    const std::size_t start = scheme + 3;
    std::size_t end = start;
    while (end < text.size() && !EndsUrl(text[end])) ++end;
    std::size_t scheme_start = scheme;
    while (scheme_start > done && !EndsUrl(text[scheme_start - 1])) --scheme_start;
    out += text.substr(done, start - done);
    out += RedactAfterScheme(text.substr(scheme_start, scheme - scheme_start),
                             text.substr(start, end - start));
    done = end;
  }
  out += text.substr(done);
  return out;
}

}  // namespace kiln
