#include "store/postgres/connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <vector>

#include "common/tunables.h"

namespace kiln::store::postgres {
namespace {

// Type OIDs of the parameters Kiln sends (pg_type.dat).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kFloat8Oid = 701;

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultHandle = std::unique_ptr<PGresult, ResultDeleter>;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class PgStatement : public sql::StatementDriver {
 public:
  PgStatement(Connection& connection, std::string sql)
      : connection_(connection), sql_(std::move(sql)) {}

  Status BindText(int index, std::string_view value) override {
    return Set(index, std::string(value), kTextOid, 0);
  }
  Status BindInt(int index, std::int64_t value) override {
    return Set(index, std::to_string(value), kInt8Oid, 0);
  }
  Status BindDouble(int index, double value) override {
    char buffer[32];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
    if (error != std::errc()) return InternalError("cannot format a double parameter");
    return Set(index, std::string(buffer, end), kFloat8Oid, 0);
  }
  Status BindBlob(int index, std::string_view bytes) override {
    return Set(index, std::string(bytes), kByteaOid, 1);
  }
  Status BindNull(int index) override { return Set(index, std::nullopt, 0, 0); }

  void Reset() override {
    result_.reset();
    row_ = -1;
    values_.clear();
    types_.clear();
    formats_.clear();
  }

  Result<bool> Step() override {
    if (!result_) {
      std::vector<const char*> values(values_.size());
      std::vector<int> lengths(values_.size());
      for (std::size_t i = 0; i < values_.size(); ++i) {
        values[i] = values_[i] ? values_[i]->data() : nullptr;
        lengths[i] = values_[i] ? static_cast<int>(values_[i]->size()) : 0;
      }
      const auto send = [&] {
        result_.reset(PQexecParams(connection_.get(), sql_.c_str(), static_cast<int>(values.size()),
                                   types_.data(), values.data(), lengths.data(), formats_.data(),
                                   /*resultFormat=*/0));
        return PQresultStatus(result_.get());
      };
      ExecStatusType status = send();
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && connection_.Reconnected()) {
        status = send();
      }
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        Status error =
            PostgresError(result_.get(), connection_.get(), fmt::format("run '{}'", sql_));
        result_.reset();
        return error;
      }
      connection_.NoteChanges(result_.get());
    }
    ++row_;
    return row_ < PQntuples(result_.get());
  }

  bool ColumnIsNull(int column) const override {
    return PQgetisnull(result_.get(), row_, column) == 1;
  }
  std::string ColumnText(int column) const override { return std::string(Raw(column)); }
  std::string_view ColumnBlob(int column) const override {
    // bytea in text form: \x followed by two hex digits a byte.
    const std::string_view text = Raw(column);
    blob_.clear();
    if (!text.starts_with("\\x")) return blob_;
    blob_.reserve((text.size() - 2) / 2);
    for (std::size_t i = 2; i + 1 < text.size(); i += 2) {
      blob_.push_back(static_cast<char>(HexValue(text[i]) * 16 + HexValue(text[i + 1])));
    }
    return blob_;
  }
  double ColumnDouble(int column) const override {
    return std::strtod(std::string(Raw(column)).c_str(), nullptr);
  }
  std::int64_t ColumnInt(int column) const override {
    const std::string_view text = Raw(column);
    std::int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
  }

 private:
  Status Set(int index, std::optional<std::string> value, Oid type, int format) {
    if (index < 1) return InvalidArgumentError(fmt::format("parameter index {}", index));
    const auto slot = static_cast<std::size_t>(index - 1);
    if (values_.size() <= slot) {
      values_.resize(slot + 1);
      types_.resize(slot + 1, 0);
      formats_.resize(slot + 1, 0);
    }
    values_[slot] = std::move(value);
    types_[slot] = type;
    formats_[slot] = format;
    return Status::Ok();
  }

  std::string_view Raw(int column) const {
    if (ColumnIsNull(column)) return {};
    return std::string_view(PQgetvalue(result_.get(), row_, column),
                            static_cast<std::size_t>(PQgetlength(result_.get(), row_, column)));
  }

  Connection& connection_;
  std::string sql_;
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
  std::vector<int> formats_;
  ResultHandle result_;
  int row_ = -1;
  mutable std::string blob_;
};

}  // namespace

std::string NumberParameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int next = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') quoted = !quoted;
    if (quoted || c != '?') {
      out += c;
      continue;
    }
    std::size_t end = i + 1;
    while (end < sql.size() && sql[end] >= '0' && sql[end] <= '9') ++end;
    out += '$';
    if (end > i + 1) {
      out += sql.substr(i + 1, end - i - 1);
      i = end - 1;
    } else {
      out += std::to_string(++next);
    }
  }
  return out;
}

Status PostgresError(const PGresult* result, PGconn* conn, std::string_view what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  const std::string message = fmt::format("{}: {}", what, detail);
  const std::string_view code = state != nullptr ? state : "";
  if (code.starts_with("23")) return AlreadyExistsError(message);
  // query_canceled: statement_timeout (the server cancels nothing else on Kiln's behalf).
  if (code == "57014") {
    return DeadlineExceededError(fmt::format(
        "{} (the statement ran past the PostgreSQL statement_timeout, {}; another session may "
        "hold a lock it needs)",
        message, kPgStatementTimeoutMs.env));
  }
  if (code == "40001" || code == "40P01") return Status(StatusCode::kAborted, message);
  if (code.starts_with("08") || PQstatus(conn) != CONNECTION_OK) {
    return UnavailableError(message + " (the PostgreSQL server is unreachable; try again)");
  }
  return InternalError(message);
}

Result<std::unique_ptr<Connection>> Connection::Open(std::string_view url) {
  KILN_ASSIGN_OR_RETURN(const std::int64_t connect_timeout, ReadTunable(kPgConnectTimeoutSeconds));
  KILN_ASSIGN_OR_RETURN(const std::int64_t statement_timeout, ReadTunable(kPgStatementTimeoutMs));
  KILN_ASSIGN_OR_RETURN(const std::int64_t keepalive, ReadTunable(kPgKeepaliveSeconds));
  // Kiln's settings first and the URL last: libpq keeps the last value of a repeated
  // keyword, so what the URL says wins.
  const std::string settings[][2] = {
      {"connect_timeout", std::to_string(connect_timeout)},
      {"keepalives", "1"},
      {"keepalives_idle", std::to_string(keepalive)},
      {"keepalives_interval", std::to_string(std::max<std::int64_t>(1, keepalive / 3))},
      {"keepalives_count", "3"},
      // Sent data left unacknowledged this long also ends the connection.
      {"tcp_user_timeout", std::to_string(2 * keepalive * 1000)},
      {"options", fmt::format("-c statement_timeout={}", statement_timeout)},
      {"dbname", std::string(url)},
  };
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [keyword, value] : settings) {
    keywords.push_back(keyword.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  std::unique_ptr<Connection> connection(new Connection(raw));
  if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
    std::string detail = raw != nullptr ? PQerrorMessage(raw) : "out of memory";
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    return UnavailableError(fmt::format("cannot connect to the PostgreSQL store {}: {}",
                                        connection->Describe(), detail));
  }
  // CREATE TABLE IF NOT EXISTS and friends send notices; Kiln has no use for them.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  return connection;
}

Result<sql::Statement> Connection::Prepare(std::string_view sql) {
  return sql::Statement(std::make_unique<PgStatement>(*this, NumberParameters(sql)));
}

Status Connection::Execute(std::string_view sql) {
  const std::string text(sql);
  const bool begins = text.starts_with("BEGIN");
  const bool ends = text == "COMMIT" || text == "ROLLBACK";
  ResultHandle result(PQexec(conn_.get(), text.c_str()));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !ends && Reconnected()) {
    result.reset(PQexec(conn_.get(), text.c_str()));
    status = PQresultStatus(result.get());
  }
  if (ends) in_transaction_ = false;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return PostgresError(result.get(), conn_.get(), fmt::format("execute '{}'", sql));
  }
  if (begins) in_transaction_ = true;
  NoteChanges(result.get());
  return Status::Ok();
}

bool Connection::Reconnected() {
  if (PQstatus(conn_.get()) == CONNECTION_OK || in_transaction_) return false;
  PQreset(conn_.get());
  return PQstatus(conn_.get()) == CONNECTION_OK;
}

void Connection::NoteChanges(PGresult* result) {
  const char* tuples = PQcmdTuples(result);
  changes_ = tuples != nullptr && *tuples != '\0' ? std::atoll(tuples) : 0;
}

std::string Connection::Describe() const {
  PGconn* conn = conn_.get();
  if (conn == nullptr) return "postgresql://?";
  return fmt::format("postgresql://{}:{}/{}", PQhost(conn) ? PQhost(conn) : "",
                     PQport(conn) ? PQport(conn) : "", PQdb(conn) ? PQdb(conn) : "");
}

}  // namespace kiln::store::postgres
