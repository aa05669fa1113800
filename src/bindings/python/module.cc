// kiln._core: the C++ core of Kiln's Python package. The package's Python modules (kiln/)
// are thin layers over it; see docs/python-api.md.

#include <pybind11/pybind11.h>

#include "bindings/python/status_exception.h"

namespace kiln::python {

void BindRun(pybind11::module_& module);
void BindWorkspace(pybind11::module_& module);

}  // namespace kiln::python

PYBIND11_MODULE(_core, module) {
  module.doc() = "The C++ core of Kiln's Python package";
  kiln::python::BindRun(module);
  kiln::python::BindWorkspace(module);
}
