#include "store/token_role.h"

namespace kiln::store {

std::string_view TokenRoleName(TokenRole role) {
  switch (role) {
    case TokenRole::kViewer:
      return "viewer";
    case TokenRole::kMember:
      return "member";
    case TokenRole::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<TokenRole> ParseTokenRole(std::string_view name) {
  for (TokenRole role : kAllTokenRoles) {
    if (TokenRoleName(role) == name) return role;
  }
  return std::nullopt;
}

}  // namespace kiln::store
