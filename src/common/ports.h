#pragma once

#include "common/result.h"

namespace kiln {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
// Another process may take it before the caller does; rendezvous code must tolerate that.
Result<int> PickFreePort();

}  // namespace kiln
