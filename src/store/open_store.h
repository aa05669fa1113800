#pragma once

// Opens a Store by URL. The backend is chosen here, at run time:
//   sqlite:///absolute/path/kiln.db   the embedded store
// PostgreSQL (postgresql://...) and a Kiln server (http://...) are later backends.

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/store.h"

namespace kiln::store {

// "sqlite://$KILN_HOME/kiln.db".
std::string DefaultStoreUrl();

// InvalidArgument for a URL no backend takes, with the forms that are accepted.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url);

}  // namespace kiln::store
