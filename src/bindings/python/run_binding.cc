// kiln._core.Run: the in-job Run API (tracking/run.h) for Python. kiln.Run subclasses it, so
// run.log() goes from Python straight to C++ with no Python frame in between.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include <fmt/format.h>

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
      throw std::runtime_error(fmt::format(
          "run.{}() records into a running job: call it in the training script, on "
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
  if (!PyUnicode_Check(object) && !PyBytes_Check(object) && PyObject_HasAttrString(object, "__float__")) {
    const double converted = PyFloat_AsDouble(object);
    if (converted == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    return converted;
  }
  throw py::type_error(fmt::format("metric '{}': value must be a number, got {}", name,
                                   Py_TYPE(object)->tp_name));
}

std::vector<double> ToDoubles(py::handle values, std::string_view name) {
  if (PyUnicode_Check(values.ptr()) || PyBytes_Check(values.ptr())) {
    throw py::type_error(fmt::format("metric '{}': expected a list of numbers, got text", name));
  }
  std::vector<double> out;
  for (py::handle item : py::iter(values)) out.push_back(ToDouble(item, name));
  return out;
}

}  // namespace

void BindRun(py::module_& module) {
  py::class_<PyRun>(module, "Run", py::dynamic_attr())
      .def(py::init<bool>(), py::arg("_context") = false)
      .def_property_readonly("_in_job", &PyRun::in_job)
      .def_property_readonly("_context_id", [](const PyRun& self) { return self.context("id").id(); })
      .def_property_readonly("_context_experiment",
                             [](const PyRun& self) { return self.context("id").experiment_name(); })
      .def_property_readonly("_offline",
                             [](const PyRun& self) { return self.context("id").offline(); })
      .def(
          "log",
          [](const PyRun& self, std::string_view name, py::handle value, py::handle step,
             std::string_view description) {
            tracking::Run& run = self.context("log");
            const double number = ToDouble(value, name);
            std::optional<std::int64_t> at_step;
            if (!step.is_none()) {
              if (!PyLong_Check(step.ptr())) {
                throw py::type_error(fmt::format("metric '{}': step must be an int", name));
              }
              at_step = step.cast<std::int64_t>();
            }
            ThrowIfError(run.Log(name, number, at_step, description));
          },
          py::arg("name"), py::arg("value"), py::arg("step") = py::none(),
          py::arg("description") = "",
          "Log a number under `name`, at `step` (the count of earlier points when omitted).")
      .def(
          "_log_list",
          [](const PyRun& self, std::string_view name, py::handle values, std::string_view description) {
            const std::vector<double> numbers = ToDoubles(values, name);
            ThrowIfError(self.context("log_list").LogList(name, numbers, description));
          })
      .def("_log_row",
           [](const PyRun& self, std::string_view name, py::dict columns, std::string_view description) {
             std::vector<std::pair<std::string, double>> row;
             for (auto [column, value] : columns) {
               row.emplace_back(py::str(column), ToDouble(value, name));
             }
             ThrowIfError(self.context("log_row").LogRow(name, row, description));
           })
      .def("_log_table",
           [](const PyRun& self, std::string_view name, py::dict columns, std::string_view description) {
             std::vector<std::pair<std::string, std::vector<double>>> table;
             for (auto [column, values] : columns) {
               table.emplace_back(py::str(column), ToDoubles(values, name));
             }
             ThrowIfError(self.context("log_table").LogTable(name, table, description));
           })
      .def("_log_image_bytes",
           [](const PyRun& self, std::string_view name, py::bytes png, std::string_view description) {
             ThrowIfError(self.context("log_image").LogImageBytes(name, std::string_view(png), description));
           })
      .def("_log_image_file",
           [](const PyRun& self, std::string_view name, const std::string& path, std::string_view description) {
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
            out[py::str(name)] = py::make_tuple(std::string(MetricKindName(metric.kind)), metric.values);
          } else {
            out[py::str(name)] = py::make_tuple(std::string(MetricKindName(metric.kind)), metric.json);
          }
        }
        return out;
      });
}

}  // namespace kiln::python
