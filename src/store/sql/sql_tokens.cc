// SqlStore's API token methods.

#include <fmt/format.h>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {
namespace {

constexpr std::string_view kTokenColumns =
    "id, name, secret_sha256, run_id, created_at, revoked_at, role";

Result<ApiToken> ReadToken(const Statement& row) {
  ApiToken token;
  token.id = row.ColumnText(0);
  token.name = row.ColumnText(1);
  token.secret_sha256 = row.ColumnText(2);
  token.run_id = row.ColumnOptionalText(3);
  token.created_at = row.ColumnInt(4);
  token.revoked_at = row.ColumnOptionalInt(5);
  const std::optional<TokenRole> role = ParseTokenRole(row.ColumnText(6));
  if (!role) {
    return DataLossError(
        fmt::format("token {} has an unknown role '{}'", token.id, row.ColumnText(6)));
  }
  token.role = *role;
  return token;
}

}  // namespace

Status SqlStore::CreateApiToken(const ApiToken& token) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db->Prepare("INSERT INTO api_tokens (id, name, secret_sha256, run_id, created_at, "
                    "role) VALUES (?, ?, ?, ?, ?, ?)"));
    const Status inserted = insert.Bind(1, token.id)
                                .Bind(2, token.name)
                                .Bind(3, token.secret_sha256)
                                .BindNullable(4, token.run_id)
                                .Bind(5, clock_.Now())
                                .Bind(6, TokenRoleName(token.role))
                                .Run();
    if (inserted.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError(fmt::format("a token named '{}' exists already", token.name));
    }
    return inserted;
  });
}

Result<ApiToken> SqlStore::GetApiToken(std::string_view id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("SELECT {} FROM api_tokens WHERE id = ?", kTokenColumns)));
  query.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return NotFoundError(fmt::format("token {} does not exist", id));
  return ReadToken(query);
}

Result<std::vector<ApiToken>> SqlStore::ListApiTokens(bool include_run_tokens) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("SELECT {} FROM api_tokens{} ORDER BY created_at, id", kTokenColumns,
                              include_run_tokens ? "" : " WHERE run_id IS NULL")));
  std::vector<ApiToken> tokens;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    KILN_ASSIGN_OR_RETURN(ApiToken token, ReadToken(query));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

Status SqlStore::RevokeApiToken(std::string_view id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement query,
                          db->Prepare("SELECT revoked_at FROM api_tokens WHERE id = ?"));
    query.Bind(1, id);
    KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
    if (!found) return NotFoundError(fmt::format("token {} does not exist", id));
    if (!query.ColumnIsNull(0)) {
      return FailedPreconditionError(fmt::format("token {} is revoked already", id));
    }
    query.Reset();
    KILN_ASSIGN_OR_RETURN(Statement revoke,
                          db->Prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ?"));
    return revoke.Bind(1, clock_.Now()).Bind(2, id).Run();
  });
}

}  // namespace kiln::store::sql
