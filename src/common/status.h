#pragma once

// Status: the outcome of an operation that can fail in an expected way.
//
// Codes follow the canonical set (as in gRPC and Abseil) so a caller can decide what to do
// without parsing messages:
//   kInvalidArgument     the input is wrong; fix the input (a job file field, a flag).
//   kNotFound            the named thing (run, datastore, file) does not exist.
//   kAlreadyExists       the thing to create exists already.
//   kFailedPrecondition  the system is not in a state that allows this; fix the state first.
//   kResourceExhausted   a limit was hit (snapshot size, disk).
//   kUnavailable         transient; retrying the same call may succeed.
//   kDeadlineExceeded    a wait ran out of time.
//   kCancelled           the operation was canceled by its caller.
//   kUnimplemented       not supported by this component or version.
//   kDataLoss            stored data is unreadable or corrupt.
//   kUnauthenticated     no valid credentials (a Kiln server's API token).
//   kPermissionDenied    the credentials do not allow this.
//   kInternal            a bug or an unexpected OS failure.
//
// Messages are complete sentences for a person: what, where (file, field, value) and what
// to do. Status is cheap to move and OK carries no allocation.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kiln {

enum class StatusCode {
  kOk = 0,
  kCancelled,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

std::string_view StatusCodeName(StatusCode code);
// The code StatusCodeName() names ("NOT_FOUND"); nullopt for any other text.
std::optional<StatusCode> ParseStatusCode(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND: run 'x' does not exist"; "OK" for success.
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>". OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // Marks a status as deliberately ignored (a best-effort cleanup step).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status ResourceExhaustedError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status CancelledError(std::string message);
Status UnimplementedError(std::string message);
Status DataLossError(std::string message);
Status InternalError(std::string message);
Status UnauthenticatedError(std::string message);
Status PermissionDeniedError(std::string message);

// An InternalError "<what>: <strerror(errno_value)>" for a failed system call.
Status ErrnoError(std::string_view what, int errno_value);

}  // namespace kiln

#define KILN_STATUS_CONCAT_INNER(a, b) a##b
#define KILN_STATUS_CONCAT(a, b) KILN_STATUS_CONCAT_INNER(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define KILN_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::kiln::Status kiln_status_ = (expr);        \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (false)

// `lhs = value of expr` (a Result<T>), or returns its error status.
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_STATUS_CONCAT(kiln_result_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL(result, lhs, expr)  \
  auto result = (expr);                                \
  if (!result.ok()) return std::move(result).status(); \
  lhs = std::move(result).value()

// Aborts with file:line when an invariant is broken. Not for expected failures.
#define KILN_CHECK(condition)                                                        \
  do {                                                                               \
    if (!(condition)) ::kiln::internal::CheckFailed(__FILE__, __LINE__, #condition); \
  } while (false)

namespace kiln::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition);
}  // namespace kiln::internal
