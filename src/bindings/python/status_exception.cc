#include "bindings/python/status_exception.h"

namespace kiln::python {

[[noreturn]] void RaiseStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnimplemented:
      throw pybind11::value_error(status.message());
    case StatusCode::kNotFound:
      PyErr_SetString(PyExc_LookupError, status.message().c_str());
      throw pybind11::error_already_set();
    default:
      throw std::runtime_error(status.message());
  }
}

}  // namespace kiln::python
