#include "store/sqlite/sqlite_store.h"

#include "common/files.h"
#include "store/sqlite/database.h"
#include "store/sqlite/schema.h"

namespace kiln::store::sqlite {

Result<std::unique_ptr<sql::SqlStore>> SqliteStore::Open(const std::filesystem::path& path,
                                                         const Clock& clock) {
  KILN_RETURN_IF_ERROR(CreateDirectories(path.parent_path()));
  KILN_ASSIGN_OR_RETURN(Database db, Database::Open(path, kBusyTimeoutMs));
  KILN_RETURN_IF_ERROR(Migrate(db));
  return std::make_unique<sql::SqlStore>(std::make_unique<Database>(std::move(db)), clock);
}

}  // namespace kiln::store::sqlite
