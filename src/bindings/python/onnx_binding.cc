// kiln._onnx: Kiln's ONNX engine for Python (kiln.onnx's parity check runs exported models
// on the engine the scoring server uses). NumPy arrays in (float32 or integer) and out.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/python/status_exception.h"
#include "inference/engine.h"

namespace py = pybind11;
using kiln::inference::Engine;

namespace {

// Runs one array per model input, in the model's order: float32 for a float input,
// integers (as int64) for an integer one.
py::list Run(Engine& engine, const py::args& arrays) {
  using Floats = py::array_t<float, py::array::c_style | py::array::forcecast>;
  using Ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
  const auto& wanted = engine.inputs();
  if (arrays.size() != wanted.size()) {
    throw py::value_error("the model takes " + std::to_string(wanted.size()) + " inputs; " +
                          std::to_string(arrays.size()) + " were given");
  }
  std::vector<py::array> held;  // the converted arrays, alive through the run
  std::vector<kiln::inference::InputTensor> inputs;
  for (size_t k = 0; k < arrays.size(); ++k) {
    const bool is_float = wanted[k].elem_type == 1;
    py::array a =
        is_float ? py::array(Floats::ensure(arrays[k])) : py::array(Ints::ensure(arrays[k]));
    if (!a) throw py::value_error("input " + std::to_string(k) + " is not a numeric array");
    if (a.ndim() < 1)
      throw py::value_error("input " + std::to_string(k) + " needs a batch dimension");
    kiln::inference::InputTensor t;
    t.shape.assign(a.shape(), a.shape() + a.ndim());
    if (is_float) {
      t.floats = {static_cast<const float*>(a.data()), static_cast<size_t>(a.size())};
    } else {
      t.ints = {static_cast<const int64_t*>(a.data()), static_cast<size_t>(a.size())};
    }
    held.push_back(std::move(a));
    inputs.push_back(std::move(t));
  }
  std::vector<kiln::inference::Tensor> outputs;
  {
    py::gil_scoped_release release;
    outputs = kiln::python::ValueOrThrow(engine.Run(inputs));
  }
  py::list result;
  for (kiln::inference::Tensor& t : outputs) {
    py::array_t<float> array(t.shape);
    std::copy(t.values.begin(), t.values.end(), array.mutable_data());
    result.append(std::move(array));
  }
  return result;
}

// The model's inputs and outputs, once the ONNX checker has passed it: what export reports
// for a model the engine cannot run.
py::dict Check(const std::string& path) {
  const kiln::inference::OnnxGraph graph =
      kiln::python::ValueOrThrow(kiln::inference::ReadOnnxInterface(path));
  const auto values = [](const std::vector<kiln::inference::ValueInfo>& infos) {
    py::list out;
    for (const auto& v : infos) out.append(py::make_tuple(v.name, v.shape));
    return out;
  };
  py::dict result;
  result["inputs"] = values(graph.inputs);
  result["outputs"] = values(graph.outputs);
  result["opset"] = graph.opset;
  return result;
}

}  // namespace

PYBIND11_MODULE(_onnx, module) {
  module.doc() = "Kiln's ONNX engine (oneDNN)";
  module.def("check", &Check, py::arg("path"),
             "Reads `path` and runs the ONNX checker; returns its inputs and outputs as "
             "(name, shape) pairs and its opset");
  py::class_<Engine>(module, "Engine")
      .def(py::init([](const std::string& path, int threads) {
             return kiln::python::ValueOrThrow(Engine::Load(path, {.threads = threads}));
           }),
           py::arg("path"), py::arg("threads") = 0)
      .def("run", &Run,
           "Runs one array per model input (batch first; float32, or integers for an "
           "integer input); returns the outputs as arrays")
      .def_property_readonly("input_name", [](const Engine& e) { return e.input().name; })
      .def_property_readonly("input_names",
                             [](const Engine& e) {
                               std::vector<std::string> names;
                               for (const auto& i : e.inputs()) names.push_back(i.name);
                               return names;
                             })
      .def_property_readonly("input_shape", [](const Engine& e) { return e.input().shape; })
      .def_property_readonly("output_names",
                             [](const Engine& e) {
                               std::vector<std::string> names;
                               for (const auto& o : e.outputs()) names.push_back(o.name);
                               return names;
                             })
      .def_property_readonly("dynamic_batch", &Engine::dynamic_batch)
      .def_property_readonly("opset", &Engine::opset)
      .def_property_readonly("producer", &Engine::producer);
}
