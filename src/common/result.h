#pragma once

// Result<T>: a value of T or the Status saying why there is none.
//
// Access the value only after checking ok(); value() on an error aborts with file:line of
// the check, which is a bug in the caller, not an expected failure.

#include <optional>
#include <utility>

#include "common/status.h"

namespace kiln {

template <typename T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): implicit, so functions `return value;`.
  Result(T value) : value_(std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor): implicit, so functions `return status;`.
  Result(Status status) : status_(std::move(status)) { KILN_CHECK(!status_.ok()); }

  bool ok() const { return value_.has_value(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  const T& value() const& {
    KILN_CHECK(ok());
    return *value_;
  }
  T& value() & {
    KILN_CHECK(ok());
    return *value_;
  }
  T value() && {
    KILN_CHECK(ok());
    return std::move(*value_);
  }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace kiln
