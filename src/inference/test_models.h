#pragma once

// Small ONNX models written with libonnx's protobuf classes, for the engine's and the
// server's unit tests (the Python tests export real PyTorch models).

#include <string>
#include <vector>

namespace kiln::inference::testing {

// y = relu(x W^T + b): input "x" [batch, in], output "y" [batch, out]; W is out x in,
// row-major. `batch` 0 leaves the batch dimension open. `identity_weights`: W reaches the
// Gemm through an Identity node, as torch.onnx.export writes for weights used twice.
void WriteLinearReluModel(const std::string& path, const std::vector<float>& weights,
                          const std::vector<float>& bias, int in, int out, int batch = 0,
                          bool identity_weights = false);

// One node of `op_type` from "x" [batch, 4] to "y": for the errors of unsupported operators.
// `string_constant`: with an (unused) string initializer, a type the engine does not read.
void WriteSingleOpModel(const std::string& path, const std::string& op_type,
                        bool string_constant = false);

// Two inputs over an open sequence length, "ids" int64 [batch, seq] and "scale" float32
// [batch, seq], and two outputs: "scaled" = ids * scale [batch, seq] and "by_position", its
// transpose [seq, batch] (the batch on axis 1). `batch_sum`: a third output, "total", the
// sum of "scaled" over the batch [seq], which has no batch axis.
void WriteTwoInputSequenceModel(const std::string& path, bool batch_sum = false);

}  // namespace kiln::inference::testing
