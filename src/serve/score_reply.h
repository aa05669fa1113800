#pragma once

// The replies of POST /score (docs/serving.md), every output of the model:
//   JSON: {"model", "version", "outputs": {name: values nested in the output's shape, ...},
//          "argmax": [per sample]}; argmax only where the first output is [batch, classes].
//   raw:  (Accept: application/octet-stream) the outputs one after another as little-endian
//         float32, described by X-Kiln-Outputs "logits=2,5; pooled=2,8" in the body's order;
//         X-Kiln-Output and X-Kiln-Shape name the first, whose values lead the body.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inference/engine.h"

namespace kiln::serve {

nlohmann::json ScoresJson(const std::vector<inference::Tensor>& outputs, const std::string& model,
                          std::int64_t version);

struct RawScores {
  std::string body;
  std::string outputs_header;  // X-Kiln-Outputs
  std::string first_shape;     // X-Kiln-Shape, the first output's
};
RawScores RawScoresOf(const std::vector<inference::Tensor>& outputs);

}  // namespace kiln::serve
