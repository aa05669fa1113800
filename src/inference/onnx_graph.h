#pragma once

// An ONNX model read into plain structs: the graph's nodes in order, its constant tensors
// (initializers and Constant nodes), and its inputs and outputs. Reading runs the ONNX
// checker (libonnx), so a file that loads here is a valid ONNX model; what Kiln's engine
// can run of it is the compiler's business (plan.h). Protobuf stays inside onnx_graph.cc.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace kiln::inference {

// A dimension the model leaves open (a dim_param such as "batch", or none given).
inline constexpr int64_t kDynamicDim = -1;

struct ValueInfo {
  std::string name;
  std::vector<int64_t> shape;          // kDynamicDim where the model names no size
  std::vector<std::string> dim_names;  // the open dimensions' names ("batch"), else ""
  int32_t elem_type = 0;               // onnx::TensorProto::DataType
};

// A constant: float tensors keep floats; integer and bool ones (shapes, axes, masks) int64s.
struct Constant {
  std::vector<int64_t> dims;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  bool is_float = false;
  int64_t size() const;
};

struct Attribute {
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  Constant tensor;  // a TENSOR attribute (Constant's value, ConstantOfShape's)
};

struct Node {
  std::string name;  // the node's name, or "#index" when it has none
  std::string op_type;
  std::vector<std::string> inputs;  // "" for an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;

  bool has(const std::string& attribute) const { return attributes.count(attribute) != 0; }
  int64_t Int(const std::string& attribute, int64_t fallback) const;
  float Float(const std::string& attribute, float fallback) const;
  std::string String(const std::string& attribute, const std::string& fallback) const;
  std::vector<int64_t> Ints(const std::string& attribute,
                            const std::vector<int64_t>& fallback) const;
  std::vector<std::string> Strings(const std::string& attribute,
                                   const std::vector<std::string>& fallback) const;
};

struct OnnxGraph {
  std::string producer;           // producer_name and version, e.g. "pytorch 1.13.1"
  int64_t opset = 0;              // of the default domain
  std::vector<ValueInfo> inputs;  // the real inputs: initializers listed as inputs left out
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;  // in the file's (topological) order
  std::map<std::string, Constant> constants;
};

// Reads and checks `path`. InvalidArgument names the file and what is wrong with it.
Result<OnnxGraph> ReadOnnxGraph(const std::string& path);

// Reads and checks `path` as far as the model's interface: producer, opset, inputs and
// outputs, with nodes and constants left empty. Reads any model the ONNX checker passes,
// also one whose constants or operators Kiln's engine does not take.
Result<OnnxGraph> ReadOnnxInterface(const std::string& path);

}  // namespace kiln::inference
