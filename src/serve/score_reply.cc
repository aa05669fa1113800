#include "serve/score_reply.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>

namespace kiln::serve {

using nlohmann::json;

namespace {

// `values` (Count(shape[depth...]) of them) as arrays nested like shape[depth...].
json Nested(const float* values, const std::vector<int64_t>& shape, size_t depth) {
  if (depth == shape.size()) return values[0];
  if (depth + 1 == shape.size()) {
    return std::vector<float>(values, values + shape[depth]);
  }
  int64_t inner = 1;
  for (size_t d = depth + 1; d < shape.size(); ++d) inner *= shape[d];
  json out = json::array();
  for (int64_t i = 0; i < shape[depth]; ++i)
    out.push_back(Nested(values + i * inner, shape, depth + 1));
  return out;
}

}  // namespace

json ScoresJson(const std::vector<inference::Tensor>& outputs, const std::string& model,
                std::int64_t version) {
  json scores = json::object();
  for (const inference::Tensor& t : outputs) scores[t.name] = Nested(t.values.data(), t.shape, 0);
  json reply = {{"model", model}, {"version", version}, {"outputs", scores}};
  const inference::Tensor& first = outputs.front();
  if (first.shape.size() == 2 && first.batch_axis == 0 && first.shape[1] > 0) {
    json argmax = json::array();
    for (int64_t b = 0; b < first.shape[0]; ++b) {
      const auto row = first.values.begin() + b * first.shape[1];
      argmax.push_back(std::max_element(row, row + first.shape[1]) - row);
    }
    reply["argmax"] = std::move(argmax);
  }
  return reply;
}

RawScores RawScoresOf(const std::vector<inference::Tensor>& outputs) {
  RawScores raw;
  size_t bytes = 0;
  for (const inference::Tensor& t : outputs) bytes += t.values.size() * sizeof(float);
  raw.body.resize(bytes);
  std::vector<std::string> described;
  size_t at = 0;
  for (const inference::Tensor& t : outputs) {
    std::memcpy(raw.body.data() + at, t.values.data(), t.values.size() * sizeof(float));
    at += t.values.size() * sizeof(float);
    described.push_back(fmt::format("{}={}", t.name, fmt::join(t.shape, ",")));
  }
  raw.outputs_header = fmt::format("{}", fmt::join(described, "; "));
  raw.first_shape = fmt::format("{}", fmt::join(outputs.front().shape, ","));
  return raw;
}

}  // namespace kiln::serve
