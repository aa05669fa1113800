#include "inference/test_models.h"

#include <onnx/onnx_pb.h>

#include <cctype>
#include <fstream>

namespace kiln::inference::testing {
namespace {

void AddTensorInfo(onnx::ValueInfoProto* info, const std::string& name, int batch, int features) {
  info->set_name(name);
  auto* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* first = type->mutable_shape()->add_dim();
  if (batch > 0) {
    first->set_dim_value(batch);
  } else {
    first->set_dim_param("batch");
  }
  type->mutable_shape()->add_dim()->set_dim_value(features);
}

onnx::ModelProto NewModel() {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("kiln-test");
  model.add_opset_import()->set_version(13);
  model.mutable_graph()->set_name("test");
  return model;
}

void Write(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  model.SerializeToOstream(&out);
}

// A tensor of `elem_type` whose dimensions are sizes (> 0) or names.
void AddInfo(onnx::ValueInfoProto* info, const std::string& name, int elem_type,
             const std::vector<std::string>& dims) {
  info->set_name(name);
  auto* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(elem_type);
  for (const std::string& d : dims) {
    auto* dim = type->mutable_shape()->add_dim();
    if (std::isdigit(static_cast<unsigned char>(d[0]))) {
      dim->set_dim_value(std::stoll(d));
    } else {
      dim->set_dim_param(d);
    }
  }
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op_type,
                         const std::vector<std::string>& inputs, const std::string& output) {
  onnx::NodeProto* node = g->add_node();
  node->set_op_type(op_type);
  node->set_name(output + "_" + op_type);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(output);
  return node;
}

}  // namespace

void WriteTwoInputSequenceModel(const std::string& path, bool batch_sum) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto* g = model.mutable_graph();
  AddInfo(g->add_input(), "ids", onnx::TensorProto::INT64, {"batch", "seq"});
  AddInfo(g->add_input(), "scale", onnx::TensorProto::FLOAT, {"batch", "seq"});
  AddInfo(g->add_output(), "scaled", onnx::TensorProto::FLOAT, {"batch", "seq"});
  AddInfo(g->add_output(), "by_position", onnx::TensorProto::FLOAT, {"seq", "batch"});
  onnx::AttributeProto* to = AddNode(g, "Cast", {"ids"}, "ids_float")->add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(onnx::TensorProto::FLOAT);
  AddNode(g, "Mul", {"ids_float", "scale"}, "scaled");
  onnx::AttributeProto* perm = AddNode(g, "Transpose", {"scaled"}, "by_position")->add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto::INTS);
  perm->add_ints(1);
  perm->add_ints(0);
  if (batch_sum) {
    AddInfo(g->add_output(), "total", onnx::TensorProto::FLOAT, {"seq"});
    onnx::TensorProto* axes = g->add_initializer();
    axes->set_name("axes");
    axes->set_data_type(onnx::TensorProto::INT64);
    axes->add_dims(1);
    axes->add_int64_data(0);
    onnx::AttributeProto* keep =
        AddNode(g, "ReduceSum", {"scaled", "axes"}, "total")->add_attribute();
    keep->set_name("keepdims");
    keep->set_type(onnx::AttributeProto::INT);
    keep->set_i(0);
  }
  Write(model, path);
}

void WriteLinearReluModel(const std::string& path, const std::vector<float>& weights,
                          const std::vector<float>& bias, int in, int out, int batch,
                          bool identity_weights) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto* g = model.mutable_graph();
  AddTensorInfo(g->add_input(), "x", batch, in);
  AddTensorInfo(g->add_output(), "y", batch, out);
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(out);
  w->add_dims(in);
  for (const float v : weights) w->add_float_data(v);
  onnx::TensorProto* b = g->add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::FLOAT);
  b->add_dims(out);
  for (const float v : bias) b->add_float_data(v);
  if (identity_weights) {
    onnx::NodeProto* identity = g->add_node();
    identity->set_op_type("Identity");
    identity->set_name("weights");
    identity->add_input("W");
    identity->add_output("W.copy");
  }
  onnx::NodeProto* gemm = g->add_node();
  gemm->set_op_type("Gemm");
  gemm->set_name("linear");
  gemm->add_input("x");
  gemm->add_input(identity_weights ? "W.copy" : "W");
  gemm->add_input("b");
  gemm->add_output("h");
  onnx::AttributeProto* trans = gemm->add_attribute();
  trans->set_name("transB");
  trans->set_type(onnx::AttributeProto::INT);
  trans->set_i(1);
  onnx::NodeProto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->set_name("relu");
  relu->add_input("h");
  relu->add_output("y");
  Write(model, path);
}

void WriteSingleOpModel(const std::string& path, const std::string& op_type, bool string_constant) {
  onnx::ModelProto model = NewModel();
  onnx::GraphProto* g = model.mutable_graph();
  AddTensorInfo(g->add_input(), "x", 0, 4);
  AddTensorInfo(g->add_output(), "y", 0, 4);
  if (string_constant) {
    onnx::TensorProto* labels = g->add_initializer();
    labels->set_name("labels");
    labels->set_data_type(onnx::TensorProto::STRING);
    labels->add_dims(2);
    labels->add_string_data("cat");
    labels->add_string_data("dog");
  }
  onnx::NodeProto* node = g->add_node();
  node->set_op_type(op_type);
  node->set_name("the_node");
  node->add_input("x");
  node->add_output("y");
  Write(model, path);
}

}  // namespace kiln::inference::testing
