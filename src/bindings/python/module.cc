// kiln._core: the C++ core of Kiln's Python package. The package's Python modules (kiln/)
// are thin layers over it; see docs/python-api.md.

#include <pybind11/pybind11.h>

#include "bindings/python/status_exception.h"

namespace kiln::python {

void BindRun(pybind11::module_& module);
void BindWorkspace(pybind11::module_& module);

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

PYBIND11_MODULE(_core, module) {
  module.doc() = "The C++ core of Kiln's Python package";
  kiln::python::BindRun(module);
  kiln::python::BindWorkspace(module);
}
