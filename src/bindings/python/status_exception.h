#pragma once

// Status -> Python exception, at the edge where C++ meets Python:
//   InvalidArgument, ResourceExhausted, Unimplemented -> ValueError
//   NotFound -> LookupError
//   anything else -> RuntimeError
// The message is the Status message.

#include <pybind11/pybind11.h>

#include "common/result.h"

namespace kiln::python {

[[noreturn]] void RaiseStatus(const Status& status);

inline void ThrowIfError(const Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

template <typename T>
T ValueOrThrow(Result<T> result) {
  if (!result.ok()) RaiseStatus(result.status());
  return std::move(result).value();
}

}  // namespace kiln::python
