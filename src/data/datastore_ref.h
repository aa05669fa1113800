#pragma once

// Datastore references inside script parameter values (docs/datastores.md):
//
//   {datastore:NAME}                 the datastore's folder, in place (mount)
//   {datastore:NAME/sub/path}        a path inside it, in place
//   {datastore:NAME/sub:download}    copied into the run directory first
//   {datastore:NAME:mount}           explicit default mode
//
// A value may hold text around a reference ("{datastore:fm}/train") and several
// references. Everything here is syntax; resolution against the registry is resolver.h.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kiln::data {

enum class DataMode { kMount, kDownload };

std::string_view DataModeName(DataMode mode);

struct DatastoreRef {
  std::string datastore;
  std::string sub_path;  // "" for the whole datastore; '/'-separated, never escapes it
  DataMode mode = DataMode::kMount;
  std::size_t begin = 0;  // position of '{' in the value
  std::size_t end = 0;    // one past '}'
};

// Every reference in `value`, in order. InvalidArgument (message without a location; the
// caller adds it) for a malformed one.
Result<std::vector<DatastoreRef>> FindReferences(std::string_view value);

// Datastore names: 1 to 64 letters, digits, '_' or '-', starting with a letter or digit.
bool IsValidDatastoreName(std::string_view name);

}  // namespace kiln::data
