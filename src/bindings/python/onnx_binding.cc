// kiln._onnx: Kiln's ONNX engine for Python (kiln.onnx's parity check runs exported models
// on the engine the scoring server uses). Float32 NumPy arrays in and out.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/python/status_exception.h"
#include "inference/engine.h"

namespace py = pybind11;
using kiln::inference::Engine;

namespace {

py::list Run(Engine& engine,
             const py::array_t<float, py::array::c_style | py::array::forcecast>& x) {
  if (x.ndim() < 1) throw py::value_error("the input needs a batch dimension");
  const auto batch = static_cast<int64_t>(x.shape(0));
  std::vector<kiln::inference::Tensor> outputs;
  {
    py::gil_scoped_release release;
    outputs = kiln::python::ValueOrThrow(
        engine.Run(std::span<const float>(x.data(), static_cast<size_t>(x.size())), batch));
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
      .def("run", &Run, py::arg("input"),
           "Runs a float32 batch (batch first); returns the outputs as arrays")
      .def_property_readonly("input_name", [](const Engine& e) { return e.input().name; })
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
