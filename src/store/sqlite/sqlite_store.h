#pragma once

// The embedded Store: one SQLite file (by default $KILN_HOME/kiln.db), through SqlStore.
//
// Many processes may open the same file: SQLite's WAL journal lets readers run during a
// write, and every write runs in a BEGIN IMMEDIATE transaction so writers queue on the
// busy timeout instead of failing mid-transaction.

#include <filesystem>
#include <memory>

#include "common/time.h"
#include "store/sql/sql_store.h"

namespace kiln::store::sqlite {

class SqliteStore {
 public:
  static constexpr int kBusyTimeoutMs = 30'000;

  // Opens or creates the file and brings its schema up to date.
  static Result<std::unique_ptr<sql::SqlStore>> Open(const std::filesystem::path& path,
                                                     const Clock& clock = SystemClock());
};

}  // namespace kiln::store::sqlite
