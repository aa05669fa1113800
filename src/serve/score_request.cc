#include "serve/score_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/strings.h"

namespace kiln::serve {

using nlohmann::json;

namespace {

std::int64_t SampleSize(const std::vector<std::int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

std::string ShapeText(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

// Appends the numbers of `value`, nested as `shape[depth...]`, to `out`.
Status ReadNested(const json& value, const std::vector<std::int64_t>& shape, size_t depth,
                  const std::string& where, std::vector<float>& out) {
  if (depth == shape.size()) {
    if (!value.is_number()) {
      return InvalidArgumentError(
          fmt::format("{}: {} is not a number", where, value.dump().substr(0, 40)));
    }
    const double v = value.get<double>();
    if (!std::isfinite(static_cast<float>(v))) {
      return InvalidArgumentError(fmt::format("{}: {} does not fit in a float32", where, v));
    }
    out.push_back(static_cast<float>(v));
    return Status::Ok();
  }
  if (!value.is_array() || static_cast<std::int64_t>(value.size()) != shape[depth]) {
    return InvalidArgumentError(
        fmt::format("{}: expected an array of {} (the model's input per sample is {})", where,
                    shape[depth], ShapeText(shape)));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    KILN_RETURN_IF_ERROR(
        ReadNested(value[i], shape, depth + 1, fmt::format("{}[{}]", where, i), out));
  }
  return Status::Ok();
}

}  // namespace

Result<InputBatch> ParseJsonInputs(std::string_view body,
                                   const std::vector<std::int64_t>& sample_shape) {
  json document;
  try {
    document = json::parse(body);
  } catch (const json::parse_error& e) {
    return InvalidArgumentError(fmt::format("the body is not JSON: {}", e.what()));
  }
  if (!document.is_object() || !document.contains("inputs")) {
    return InvalidArgumentError(
        R"(the body must be a JSON object {"inputs": [sample, ...]} (or raw float32 with X-Kiln-Shape))");
  }
  const json& inputs = document["inputs"];
  if (!inputs.is_array() || inputs.empty()) {
    return InvalidArgumentError("inputs: expected a non-empty array of samples");
  }
  const std::int64_t size = SampleSize(sample_shape);
  InputBatch batch;
  batch.batch = static_cast<std::int64_t>(inputs.size());
  batch.values.reserve(static_cast<size_t>(batch.batch * size));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string where = fmt::format("inputs[{}]", i);
    const json& sample = inputs[i];
    // Flat: exactly `size` numbers in one array (when the shape is not already 1-D).
    const bool flat = sample_shape.size() > 1 && sample.is_array() &&
                      static_cast<std::int64_t>(sample.size()) == size &&
                      (sample.empty() || !sample[0].is_array());
    if (flat) {
      KILN_RETURN_IF_ERROR(ReadNested(sample, {size}, 0, where, batch.values));
    } else if (sample.is_array() && !sample.empty() && !sample[0].is_array() &&
               sample_shape.size() > 1) {
      for (size_t j = 0; j < sample.size(); ++j) {
        if (!sample[j].is_number()) {
          return InvalidArgumentError(
              fmt::format("{}[{}]: {} is not a number", where, j, sample[j].dump().substr(0, 40)));
        }
      }
      return InvalidArgumentError(
          fmt::format("{}: {} numbers; the model takes {} per sample (shape {}), flat or nested",
                      where, sample.size(), size, ShapeText(sample_shape)));
    } else {
      KILN_RETURN_IF_ERROR(ReadNested(sample, sample_shape, 0, where, batch.values));
    }
  }
  return batch;
}

Result<InputBatch> ParseRawInputs(std::string_view body, std::string_view shape_header,
                                  const std::vector<std::int64_t>& sample_shape) {
  if (shape_header.empty()) {
    return InvalidArgumentError(
        "a raw float32 body needs the header X-Kiln-Shape: B,d1,d2,... (batch first)");
  }
  // Every size is read and checked on its own; none is multiplied by another, so no
  // header can overflow the arithmetic below.
  std::vector<std::int64_t> shape;
  size_t at = 0;
  while (at <= shape_header.size()) {
    const size_t comma = std::min(shape_header.find(',', at), shape_header.size());
    const std::string_view text = TrimWhitespace(shape_header.substr(at, comma - at));
    std::int64_t d = 0;
    const auto [stop, error] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (error != std::errc() || stop != text.data() + text.size() || d < 1) {
      return InvalidArgumentError(fmt::format(
          "X-Kiln-Shape '{}': size {} is '{}'; expected positive sizes (up to {}) separated by "
          "commas, batch first",
          shape_header, shape.size() + 1, text, std::numeric_limits<std::int64_t>::max()));
    }
    shape.push_back(d);
    at = comma + 1;
  }
  const std::int64_t sample_size = SampleSize(sample_shape);
  if (sample_size < 1) {
    return InvalidArgumentError(fmt::format(
        "the model's input per sample, {}, has no fixed size: send JSON", ShapeText(sample_shape)));
  }
  const std::vector<std::int64_t> given(shape.begin() + 1, shape.end());
  if (given != sample_shape && !(given.size() == 1 && given[0] == sample_size)) {
    return InvalidArgumentError(fmt::format(
        "X-Kiln-Shape '{}': {} dimensions after the batch, {}; the model takes samples of "
        "shape {} (or {} flat)",
        shape_header, given.size(), ShapeText(given), ShapeText(sample_shape), sample_size));
  }
  // The batch is bounded by the body before it sizes anything.
  const std::size_t sample_bytes = static_cast<std::size_t>(sample_size) * sizeof(float);
  const std::size_t samples_in_body = body.size() / sample_bytes;
  if (body.size() % sample_bytes != 0 || static_cast<std::uint64_t>(shape[0]) != samples_in_body) {
    return InvalidArgumentError(fmt::format(
        "the body has {} bytes; X-Kiln-Shape '{}' needs {} samples of {} float32s ({} bytes "
        "each): the body holds {}",
        body.size(), shape_header, shape[0], sample_size, sample_bytes,
        body.size() % sample_bytes == 0
            ? fmt::format("{} samples", samples_in_body)
            : fmt::format("{} samples and {} bytes more", samples_in_body,
                          body.size() % sample_bytes)));
  }
  InputBatch batch;
  batch.batch = shape[0];
  batch.values.resize(samples_in_body * static_cast<std::size_t>(sample_size));
  std::memcpy(batch.values.data(), body.data(), body.size());
  for (size_t i = 0; i < batch.values.size(); ++i) {
    if (!std::isfinite(batch.values[i])) {
      return InvalidArgumentError(fmt::format("value {} of the body is not a finite number", i));
    }
  }
  return batch;
}

}  // namespace kiln::serve
