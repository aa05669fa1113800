#include "store/open_store.h"

#include <fmt/format.h>

#include "common/tunables.h"
#include "store/http/http_store.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace kiln::store {

namespace {
constexpr std::string_view kSqliteScheme = "sqlite://";
}  // namespace

std::string DefaultStoreUrl() {
  return std::string(kSqliteScheme) + (KilnHome() / "kiln.db").string();
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url,
                                         const ServerCredentials& credentials) {
  if (url.starts_with(kSqliteScheme)) {
    const std::string_view path = url.substr(kSqliteScheme.size());
    if (path.empty() || path.front() != '/') {
      return InvalidArgumentError(
          fmt::format("store URL '{}' must name an absolute path: sqlite:///path/to/kiln.db", url));
    }
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<sql::SqlStore> store,
                          sqlite::SqliteStore::Open(std::string(path)));
    return std::unique_ptr<Store>(std::move(store));
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<sql::SqlStore> store, postgres::PostgresStore::Open(url));
    return std::unique_ptr<Store>(std::move(store));
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    http::ApiClientOptions options;
    options.url = std::string(url);
    options.token = credentials.token;
    options.ca_file = credentials.ca_file;
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<http::ApiClient> api, http::ApiClient::Create(options));
    return std::unique_ptr<Store>(std::make_unique<http::HttpStore>(std::move(api)));
  }
  return InvalidArgumentError(
      fmt::format("store URL '{}' is not supported; use sqlite:///path/to/kiln.db, "
                  "postgresql://user@host:port/database or http(s)://host:port (a Kiln server)",
                  url));
}

}  // namespace kiln::store
