// kiln._core.Run: the in-job Run API (tracking/run.h) for Python. kiln.Run subclasses it, so
// run.log() goes from Python straight to C++ with no Python frame in between.

#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings/python/status_exception.h"
#include "tracking/run.h"

namespace kiln::python {
namespace py = pybind11;

namespace {

// A run as Python sees it: the process's context run inside a job, or a handle on a
// submitted run (no context) whose methods live in Python.
class PyRun {
 public:
  explicit PyRun(bool context) : context_(context ? &tracking::Run::GetContext() : nullptr) {}

  tracking::Run& context(const char* verb) const {
    if (context_ == nullptr) {
      throw std::runtime_error(
          fmt::format("run.{}() records into a running job: call it in the training script, on "
                      "Run.get_context()",
                      verb));
    }
    return *context_;
  }
  bool in_job() const { return context_ != nullptr; }

 private:
  tracking::Run* context_;
};

// A Python number as a double: int, float, bool, or anything with __float__ (numpy and
// torch scalars) except text. TypeError otherwise.
double ToDouble(py::handle value, std::string_view name) {
  PyObject* object = value.ptr();
  if (PyFloat_Check(object)) return PyFloat_AS_DOUBLE(object);
  if (PyLong_Check(object)) {
    const double converted = PyLong_AsDouble(object);
    if (converted == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    return converted;
  }
  if (!PyUnicode_Check(object) && !PyBytes_Check(object) &&
      PyObject_HasAttrString(object, "__float__")) {
    const double converted = PyFloat_AsDouble(object);
    if (converted == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    return converted;
  }
  throw py::type_error(
      fmt::format("metric '{}': value must be a number, got {}", name, Py_TYPE(object)->tp_name));
}

std::vector<double> ToDoubles(py::handle values, std::string_view name) {
  if (PyUnicode_Check(values.ptr()) || PyBytes_Check(values.ptr())) {
    throw py::type_error(fmt::format("metric '{}': expected a list of numbers, got text", name));
  }
  std::vector<double> out;
  for (py::handle item : py::iter(values)) out.push_back(ToDouble(item, name));
  return out;
}

// run.log(name, value, step=None, description=""), called once per training step or more:
// a METH_FASTCALL function, so a call costs what CPython's own calls cost instead of going
// through pybind11's general argument machinery.
PyObject* FastLog(PyObject* self, PyObject* const* args, Py_ssize_t positional,
                  PyObject* keyword_names) {
  constexpr const char* kNames[] = {"name", "value", "step", "description"};
  PyObject* given[4] = {nullptr, nullptr, Py_None, nullptr};
  if (positional > 4) {
    PyErr_Format(PyExc_TypeError, "log() takes at most 4 arguments (%zd given)", positional);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < positional; ++i) given[i] = args[i];
  const Py_ssize_t keywords = keyword_names == nullptr ? 0 : PyTuple_GET_SIZE(keyword_names);
  for (Py_ssize_t k = 0; k < keywords; ++k) {
    PyObject* keyword = PyTuple_GET_ITEM(keyword_names, k);
    bool matched = false;
    for (int i = 0; i < 4 && !matched; ++i) {
      if (PyUnicode_CompareWithASCIIString(keyword, kNames[i]) == 0) {
        given[i] = args[positional + k];
        matched = true;
      }
    }
    if (!matched) {
      PyErr_Format(PyExc_TypeError, "log() got an unexpected keyword argument '%U'", keyword);
      return nullptr;
    }
  }
  if (given[0] == nullptr || given[1] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "log() needs a name and a value");
    return nullptr;
  }
  try {
    const PyRun& run = py::handle(self).cast<const PyRun&>();
    Py_ssize_t name_size = 0;
    const char* name_data =
        PyUnicode_Check(given[0]) ? PyUnicode_AsUTF8AndSize(given[0], &name_size) : nullptr;
    if (name_data == nullptr) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "log(): name must be a str");
      return nullptr;
    }
    const std::string_view name(name_data, static_cast<std::size_t>(name_size));
    const double value = ToDouble(given[1], name);
    std::optional<std::int64_t> step;
    if (given[2] != Py_None) {
      if (!PyLong_Check(given[2])) {
        throw py::type_error(fmt::format("metric '{}': step must be an int", name));
      }
      step = PyLong_AsLongLong(given[2]);
      if (PyErr_Occurred()) return nullptr;
    }
    std::string_view description;
    if (given[3] != nullptr && given[3] != Py_None) {
      Py_ssize_t size = 0;
      const char* data = PyUnicode_AsUTF8AndSize(given[3], &size);
      if (data == nullptr) return nullptr;
      description = std::string_view(data, static_cast<std::size_t>(size));
    }
    ThrowIfError(run.context("log").Log(name, value, step, description));
  } catch (py::error_already_set& error) {
    error.restore();
    return nullptr;
  } catch (py::builtin_exception& error) {
    error.set_error();
    return nullptr;
  } catch (const std::exception& error) {
    PyErr_SetString(PyExc_RuntimeError, error.what());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef kFastLog = {
    "log", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&FastLog)),
    METH_FASTCALL | METH_KEYWORDS,
    "log(name, value, step=None, description='')\n"
    "Log a number under `name`, at `step` (the count of earlier points when omitted)."};

}  // namespace

void BindRun(py::module_& module) {
  py::class_<PyRun> run_class(module, "Run", py::dynamic_attr());
  run_class.def(py::init<bool>(), py::arg("_context") = false)
      .def_property_readonly("_in_job", &PyRun::in_job)
      .def_property_readonly("_context_id",
                             [](const PyRun& self) { return self.context("id").id(); })
      .def_property_readonly("_context_experiment",
                             [](const PyRun& self) { return self.context("id").experiment_name(); })
      .def_property_readonly("_offline",
                             [](const PyRun& self) { return self.context("id").offline(); })
      .def("_log_list",
           [](const PyRun& self, std::string_view name, py::handle values,
              std::string_view description) {
             const std::vector<double> numbers = ToDoubles(values, name);
             ThrowIfError(self.context("log_list").LogList(name, numbers, description));
           })
      .def("_log_row",
           [](const PyRun& self, std::string_view name, py::dict columns,
              std::string_view description) {
             std::vector<std::pair<std::string, double>> row;
             for (auto [column, value] : columns) {
               row.emplace_back(py::str(column), ToDouble(value, name));
             }
             ThrowIfError(self.context("log_row").LogRow(name, row, description));
           })
      .def("_log_table",
           [](const PyRun& self, std::string_view name, py::dict columns,
              std::string_view description) {
             std::vector<std::pair<std::string, std::vector<double>>> table;
             for (auto [column, values] : columns) {
               table.emplace_back(py::str(column), ToDoubles(values, name));
             }
             ThrowIfError(self.context("log_table").LogTable(name, table, description));
           })
      .def("_log_image_bytes",
           [](const PyRun& self, std::string_view name, py::bytes png,
              std::string_view description) {
             ThrowIfError(
                 self.context("log_image").LogImageBytes(name, std::string_view(png), description));
           })
      .def("_log_image_file",
           [](const PyRun& self, std::string_view name, const std::string& path,
              std::string_view description) {
             ThrowIfError(self.context("log_image").LogImage(name, path, description));
           })
      .def("_tag",
           [](const PyRun& self, std::string_view key, std::string_view value) {
             ThrowIfError(self.context("tag").Tag(key, value));
           })
      .def("_upload_file",
           [](const PyRun& self, std::string_view name, const std::string& path) {
             ThrowIfError(self.context("upload_file").UploadFile(name, path));
           })
      .def("_logged_metrics", [](const PyRun& self) {
        // {name: (kind, [numbers] or [json texts])}
        py::dict out;
        for (const auto& [name, metric] : ValueOrThrow(self.context("get_metrics").GetMetrics())) {
          if (metric.kind == store::MetricKind::kScalar) {
            out[py::str(name)] =
                py::make_tuple(std::string(MetricKindName(metric.kind)), metric.values);
          } else {
            out[py::str(name)] =
                py::make_tuple(std::string(MetricKindName(metric.kind)), metric.json);
          }
        }
        return out;
      });
  py::object descriptor = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(run_class.ptr()), &kFastLog));
  if (!descriptor || PyObject_SetAttrString(run_class.ptr(), "log", descriptor.ptr()) != 0) {
    throw py::error_already_set();
  }
}

}  // namespace kiln::python
