#include "server/auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <cctype>

#include "common/random.h"
#include "common/sha256.h"

namespace kiln::server {

namespace {

constexpr std::string_view kPrefix = "kiln_";
constexpr std::size_t kIdDigits = 12;
constexpr std::size_t kSecretDigits = 64;

}  // namespace

Result<MintedToken> MintToken(store::Store& store, std::string_view name, store::TokenRole role,
                              std::optional<std::string> run_id) {
  if (name.empty()) return InvalidArgumentError("a token needs a name (--name)");
  for (const char c : run_id ? std::string_view() : name) {
    const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '@' ||
                         c == ':' || c == '_' || c == '-';
    if (!allowed) {
      return InvalidArgumentError(fmt::format(
          "token name '{}': use letters, digits and . @ : _ - only (e.g. ana@lab, ci-bot)", name));
    }
  }
  MintedToken minted;
  minted.record.id = "tok_" + RandomHex(kIdDigits);
  minted.record.name = std::string(name);
  minted.record.role = role;
  minted.record.run_id = std::move(run_id);
  minted.secret = fmt::format("{}{}_{}", kPrefix, minted.record.id, RandomHex(kSecretDigits));
  minted.record.secret_sha256 = Sha256::HexOf(minted.secret);
  KILN_RETURN_IF_ERROR(store.CreateApiToken(minted.record));
  KILN_ASSIGN_OR_RETURN(minted.record, store.GetApiToken(minted.record.id));
  return minted;
}

Result<Caller> Authenticate(store::Store& store, std::string_view authorization) {
  if (authorization.empty()) {
    return UnauthenticatedError(
        "this request needs an API token: send 'Authorization: Bearer <token>' (the CLI sends "
        "KILN_TOKEN); make one with 'kiln server token create'");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) {
    return UnauthenticatedError("the Authorization header must read 'Bearer <token>'");
  }
  const std::string_view secret = authorization.substr(kBearer.size());
  // kiln_tok_<12 hex>_<64 hex>
  const std::size_t id_start = kPrefix.size();
  const std::size_t id_length = 4 + kIdDigits;
  if (!secret.starts_with(kPrefix) || secret.size() != id_start + id_length + 1 + kSecretDigits ||
      secret[id_start + id_length] != '_') {
    return UnauthenticatedError("the API token is malformed; tokens read kiln_tok_..._...");
  }
  const std::string id(secret.substr(id_start, id_length));
  const Result<store::ApiToken> token = store.GetApiToken(id);
  if (!token.ok()) {
    if (token.status().code() == StatusCode::kNotFound) {
      return UnauthenticatedError(fmt::format("the API token {} is not known to this server", id));
    }
    return token.status();
  }
  const std::string hash = Sha256::HexOf(secret);
  if (hash.size() != token->secret_sha256.size() ||
      CRYPTO_memcmp(hash.data(), token->secret_sha256.data(), hash.size()) != 0) {
    return UnauthenticatedError(fmt::format("the API token {} is wrong", id));
  }
  if (token->revoked_at) {
    return UnauthenticatedError(fmt::format("the API token {} was revoked", id));
  }
  return Caller{token->id, token->name, token->role, token->run_id};
}

}  // namespace kiln::server
