#include "inference/onnx_graph.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace kiln::inference {

int64_t Constant::size() const {
  int64_t n = 1;
  for (const int64_t d : dims) n *= d;
  return n;
}

int64_t Node::Int(const std::string& attribute, int64_t fallback) const {
  const auto it = attributes.find(attribute);
  return it == attributes.end() ? fallback : it->second.i;
}

float Node::Float(const std::string& attribute, float fallback) const {
  const auto it = attributes.find(attribute);
  return it == attributes.end() ? fallback : it->second.f;
}

std::string Node::String(const std::string& attribute, const std::string& fallback) const {
  const auto it = attributes.find(attribute);
  return it == attributes.end() ? fallback : it->second.s;
}

std::vector<int64_t> Node::Ints(const std::string& attribute,
                                const std::vector<int64_t>& fallback) const {
  const auto it = attributes.find(attribute);
  return it == attributes.end() ? fallback : it->second.ints;
}

std::vector<std::string> Node::Strings(const std::string& attribute,
                                       const std::vector<std::string>& fallback) const {
  const auto it = attributes.find(attribute);
  return it == attributes.end() ? fallback : it->second.strings;
}

namespace {

template <typename T>
std::vector<T> RawValues(const std::string& raw) {
  std::vector<T> values(raw.size() / sizeof(T));
  std::memcpy(values.data(), raw.data(), values.size() * sizeof(T));
  return values;
}

Result<Constant> ReadTensor(const onnx::TensorProto& tensor, const std::string& where) {
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    return InvalidArgumentError(fmt::format(
        "{}: tensor '{}' keeps its data in an external file, which Kiln's engine does not "
        "read; export the model as one file (models under 2 GiB)",
        where, tensor.name()));
  }
  Constant c;
  c.dims.assign(tensor.dims().begin(), tensor.dims().end());
  const bool raw = tensor.has_raw_data();
  switch (tensor.data_type()) {
    case onnx::TensorProto::FLOAT:
      c.is_float = true;
      c.floats = raw ? RawValues<float>(tensor.raw_data())
                     : std::vector<float>(tensor.float_data().begin(), tensor.float_data().end());
      break;
    case onnx::TensorProto::DOUBLE: {
      c.is_float = true;
      const std::vector<double> d =
          raw ? RawValues<double>(tensor.raw_data())
              : std::vector<double>(tensor.double_data().begin(), tensor.double_data().end());
      c.floats.assign(d.begin(), d.end());
      break;
    }
    case onnx::TensorProto::INT64:
      c.ints = raw ? RawValues<int64_t>(tensor.raw_data())
                   : std::vector<int64_t>(tensor.int64_data().begin(), tensor.int64_data().end());
      break;
    case onnx::TensorProto::INT32: {
      const std::vector<int32_t> v =
          raw ? RawValues<int32_t>(tensor.raw_data())
              : std::vector<int32_t>(tensor.int32_data().begin(), tensor.int32_data().end());
      c.ints.assign(v.begin(), v.end());
      break;
    }
    case onnx::TensorProto::BOOL:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::INT8: {
      // Raw data holds one byte a value; otherwise int32_data holds them widened.
      if (raw) {
        const bool is_signed = tensor.data_type() == onnx::TensorProto::INT8;
        for (const char byte : tensor.raw_data()) {
          c.ints.push_back(is_signed ? static_cast<int8_t>(byte) : static_cast<uint8_t>(byte));
        }
      } else {
        c.ints.assign(tensor.int32_data().begin(), tensor.int32_data().end());
      }
      break;
    }
    default:
      return InvalidArgumentError(fmt::format(
          "{}: tensor '{}' has ONNX data type {}; Kiln's engine reads float32, float64, "
          "bool and integer constants of up to 64 bits",
          where, tensor.name(), tensor.data_type()));
  }
  const size_t have = c.is_float ? c.floats.size() : c.ints.size();
  if (static_cast<int64_t>(have) != c.size()) {
    return InvalidArgumentError(fmt::format("{}: tensor '{}' holds {} values for dims of {}", where,
                                            tensor.name(), have, c.size()));
  }
  return c;
}

ValueInfo ReadValueInfo(const onnx::ValueInfoProto& info) {
  ValueInfo v;
  v.name = info.name();
  const auto& type = info.type().tensor_type();
  v.elem_type = type.elem_type();
  for (const auto& dim : type.shape().dim()) {
    v.shape.push_back(dim.has_dim_value() ? dim.dim_value() : kDynamicDim);
    v.dim_names.push_back(dim.has_dim_param() ? dim.dim_param() : "");
  }
  return v;
}

Result<Attribute> ReadAttribute(const onnx::AttributeProto& a, const std::string& where) {
  Attribute out;
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      out.i = a.i();
      break;
    case onnx::AttributeProto::FLOAT:
      out.f = a.f();
      break;
    case onnx::AttributeProto::STRING:
      out.s = a.s();
      break;
    case onnx::AttributeProto::INTS:
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::STRINGS:
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSOR: {
      Result<Constant> t = ReadTensor(a.t(), where);
      if (!t.ok()) return t.status();
      out.tensor = std::move(t).value();
      break;
    }
    default:
      return InvalidArgumentError(fmt::format(
          "{}: attribute '{}' has a type Kiln's engine does not read", where, a.name()));
  }
  return out;
}

}  // namespace

namespace {

// Parses `path` and runs the ONNX checker on it.
Result<onnx::ModelProto> ReadChecked(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(fmt::format("cannot read the ONNX model '{}'", path));
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string data = bytes.str();
  onnx::ModelProto model;
  if (!model.ParseFromString(data)) {
    return InvalidArgumentError(
        fmt::format("{}: not an ONNX model (the file does not parse as an ONNX ModelProto)", path));
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return InvalidArgumentError(fmt::format("{}: the ONNX checker rejects it: {}", path, e.what()));
  }
  return model;
}

// What the model declares: producer, opset, inputs (initializers left out), outputs.
OnnxGraph Interface(const onnx::ModelProto& model) {
  OnnxGraph graph;
  graph.producer = fmt::format("{} {}", model.producer_name(), model.producer_version());
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") graph.opset = opset.version();
  }
  const onnx::GraphProto& g = model.graph();
  std::set<std::string> initializers;
  for (const auto& init : g.initializer()) initializers.insert(init.name());
  for (const auto& input : g.input()) {
    if (initializers.count(input.name()) == 0) graph.inputs.push_back(ReadValueInfo(input));
  }
  for (const auto& output : g.output()) graph.outputs.push_back(ReadValueInfo(output));
  return graph;
}

}  // namespace

Result<OnnxGraph> ReadOnnxInterface(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const onnx::ModelProto model, ReadChecked(path));
  return Interface(model);
}

Result<OnnxGraph> ReadOnnxGraph(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const onnx::ModelProto model, ReadChecked(path));
  OnnxGraph graph = Interface(model);
  const onnx::GraphProto& g = model.graph();
  for (const auto& init : g.initializer()) {
    Result<Constant> c = ReadTensor(init, path);
    if (!c.ok()) return c.status();
    graph.constants.emplace(init.name(), std::move(c).value());
  }
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    if (!n.domain().empty() && n.domain() != "ai.onnx") {
      return InvalidArgumentError(fmt::format(
          "{}: node '{}' is an operator of domain '{}'; Kiln's engine runs the default ONNX "
          "domain only",
          path, n.name(), n.domain()));
    }
    Node node;
    node.name = n.name().empty() ? fmt::format("#{}", i) : n.name();
    node.op_type = n.op_type();
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    const std::string where = fmt::format("{}: node '{}' ({})", path, node.name, node.op_type);
    for (const auto& a : n.attribute()) {
      Result<Attribute> attribute = ReadAttribute(a, where);
      if (!attribute.ok()) return attribute.status();
      node.attributes.emplace(a.name(), std::move(attribute).value());
    }
    if (node.op_type == "Constant") {  // a constant like any initializer
      if (n.output_size() != 1 || n.attribute_size() != 1 || !n.attribute(0).has_t()) {
        return InvalidArgumentError(
            fmt::format("{}: only a Constant with a 'value' tensor is read", where));
      }
      graph.constants.emplace(n.output(0), node.attributes.begin()->second.tensor);
      continue;
    }
    graph.nodes.push_back(std::move(node));
  }
  return graph;
}

}  // namespace kiln::inference
