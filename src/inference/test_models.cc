#include "inference/test_models.h"

#include <onnx/onnx_pb.h>

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

}  // namespace

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
