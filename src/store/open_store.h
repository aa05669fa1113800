#pragma once

// Opens a Store by URL. The backend is chosen here, at run time:
//   sqlite:///absolute/path/kiln.db        the embedded store
//   postgresql://user@host:port/database   a PostgreSQL database
//   http://host:port, https://host:port    a Kiln server (http/http_store.h)

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/store.h"

namespace kiln::store {

// "sqlite://$KILN_HOME/kiln.db".
std::string DefaultStoreUrl();

// How to reach a Kiln server: its API token and, for https, the CA file to trust.
struct ServerCredentials {
  std::string token;
  std::string ca_file;
};

// InvalidArgument for a URL no backend takes, with the forms that are accepted.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url,
                                         const ServerCredentials& credentials = {});

}  // namespace kiln::store
