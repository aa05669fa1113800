#pragma once

// The bodies of POST /score (docs/serving.md), read into one float32 batch:
//   JSON: {"inputs": [sample, ...]}, each sample nested as the model's input without the
//         batch dimension ([1][28][28]) or flat (784 numbers);
//   raw:  Content-Type application/octet-stream, X-Kiln-Shape "B,1,28,28" (batch first),
//         the body B*784 little-endian float32s.
// Every error is InvalidArgument with the place and the reason: "inputs[2]: 783 numbers,
// the model takes 784 per sample (shape [1,28,28])".

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kiln::serve {

struct InputBatch {
  std::int64_t batch = 0;
  std::vector<float> values;  // batch * sample size, sample after sample
};

// `sample_shape`: the model's input shape without the batch dimension.
Result<InputBatch> ParseJsonInputs(std::string_view body,
                                   const std::vector<std::int64_t>& sample_shape);
Result<InputBatch> ParseRawInputs(std::string_view body, std::string_view shape_header,
                                  const std::vector<std::int64_t>& sample_shape);

}  // namespace kiln::serve
