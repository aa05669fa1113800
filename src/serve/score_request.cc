#include "serve/score_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

namespace kiln::serve {

using nlohmann::json;

InputSpec InputSpec::Of(const inference::ValueInfo& input) {
  InputSpec spec;
  spec.name = input.name;
  spec.integer = input.elem_type != 1;  // the engine takes float32, int64 and int32 inputs
  spec.raw_bytes = input.elem_type == 7 ? 8 : 4;
  spec.sample_shape.assign(input.shape.begin() + 1, input.shape.end());
  return spec;
}

std::string InputSpec::TypeName() const {
  return !integer ? "float32" : raw_bytes == 8 ? "int64" : "int32";
}

std::vector<inference::InputTensor> InputBatch::Tensors() const {
  std::vector<inference::InputTensor> tensors;
  for (const InputValues& input : inputs)
    tensors.push_back({input.shape, input.floats, input.ints});
  return tensors;
}

std::string ShapeText(const std::vector<std::int64_t>& shape) {
  std::vector<std::string> sizes;
  for (const std::int64_t d : shape) {
    sizes.push_back(d == inference::kDynamicDim ? "?" : std::to_string(d));
  }
  return fmt::format("[{}]", fmt::join(sizes, ","));
}

bool InputBatch::Joins(const InputBatch& other) const {
  if (inputs.size() != other.inputs.size()) return false;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::vector<std::int64_t>& a = inputs[k].shape;
    const std::vector<std::int64_t>& b = other.inputs[k].shape;
    if (a.size() != b.size() || !std::equal(a.begin() + 1, a.end(), b.begin() + 1)) return false;
  }
  return true;
}

namespace {

// A JSON value in an error: a number or string as sent (cut short), anything else by its
// type, since dumping a hostile array or object could recurse as deep as it nests.
std::string Shown(const json& value) {
  if (value.is_primitive()) return value.dump().substr(0, 40);
  return fmt::format("an {}", value.type_name());
}

std::int64_t FixedSize(const std::vector<std::int64_t>& shape) {
  for (const std::int64_t d : shape) {
    if (d == inference::kDynamicDim) return 0;
  }
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

std::string Described(std::span<const InputSpec> specs) {
  std::vector<std::string> parts;
  for (const InputSpec& spec : specs) {
    std::vector<std::int64_t> shape = {inference::kDynamicDim};  // the batch
    shape.insert(shape.end(), spec.sample_shape.begin(), spec.sample_shape.end());
    parts.push_back(fmt::format("{} ({}, {})", spec.name, spec.TypeName(), ShapeText(shape)));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

// Reads one input's samples, nested as `shape` (its open sizes taken from the first sample).
class SampleReader {
 public:
  SampleReader(const InputSpec& spec, std::string where, InputValues& out)
      : spec_(spec), where_(std::move(where)), out_(out), shape_(spec.sample_shape) {}

  Status Read(const json& samples) {
    if (!samples.is_array() || samples.empty()) {
      return InvalidArgumentError(fmt::format("{}: expected a non-empty array of samples", where_));
    }
    KILN_RETURN_IF_ERROR(ResolveOpenSizes(samples[0]));
    const std::int64_t size = FixedSize(shape_);
    for (size_t i = 0; i < samples.size(); ++i) {
      const std::string where = fmt::format("{}[{}]", where_, i);
      const json& sample = samples[i];
      const bool numbers = sample.is_array() && !sample.empty() && !sample[0].is_array();
      if (numbers && shape_.size() > 1 && !open_) {
        // Flat: exactly `size` numbers in one array.
        if (static_cast<std::int64_t>(sample.size()) != size) {
          for (size_t j = 0; j < sample.size(); ++j) {
            KILN_RETURN_IF_ERROR(Value(sample[j], fmt::format("{}[{}]", where, j)));
          }
          return InvalidArgumentError(fmt::format(
              "{}: {} numbers; the model takes {} per sample (shape {}), flat or nested", where,
              sample.size(), size, ShapeText(shape_)));
        }
        for (size_t j = 0; j < sample.size(); ++j) {
          KILN_RETURN_IF_ERROR(Value(sample[j], fmt::format("{}[{}]", where, j)));
        }
      } else {
        KILN_RETURN_IF_ERROR(Nested(sample, 0, where));
      }
    }
    out_.shape = {static_cast<std::int64_t>(samples.size())};
    out_.shape.insert(out_.shape.end(), shape_.begin(), shape_.end());
    return Status::Ok();
  }

 private:
  // The request's sizes for the model's open dimensions, read down the first sample.
  Status ResolveOpenSizes(const json& first) {
    const json* node = &first;
    for (size_t d = 0; d < shape_.size(); ++d) {
      if (shape_[d] != inference::kDynamicDim) {
        if (!node->is_array() || node->empty()) break;  // Nested() says what is wrong
        node = &(*node)[0];
        continue;
      }
      if (!node->is_array() || node->empty()) {
        return InvalidArgumentError(fmt::format(
            "{}[0]: dimension {} of input '{}' is open (a sample is {}); expected a non-empty "
            "array there, found {}",
            where_, d + 1, spec_.name, ShapeText(spec_.sample_shape),
            node->is_array() ? std::string("[]") : Shown(*node)));
      }
      shape_[d] = static_cast<std::int64_t>(node->size());
      if (spec_.max_open_size > 0 && shape_[d] > spec_.max_open_size) {
        return InvalidArgumentError(fmt::format(
            "{}[0]: dimension {} of input '{}' is {} long; this server takes at most {} (kiln "
            "serve --max-length)",
            where_, d + 1, spec_.name, shape_[d], spec_.max_open_size));
      }
      open_ = true;
      node = &(*node)[0];
    }
    return Status::Ok();
  }

  Status Nested(const json& value, size_t depth, const std::string& where) {
    if (depth == shape_.size()) return Value(value, where);
    if (!value.is_array() || static_cast<std::int64_t>(value.size()) != shape_[depth]) {
      return InvalidArgumentError(
          open_ ? fmt::format("{}: expected an array of {} ({}[0] has {}; every sample of a "
                              "request has the same shape)",
                              where, shape_[depth], where_, ShapeText(shape_))
                : fmt::format("{}: expected an array of {} (the model's input per sample is {})",
                              where, shape_[depth], ShapeText(shape_)));
    }
    for (size_t i = 0; i < value.size(); ++i) {
      KILN_RETURN_IF_ERROR(Nested(value[i], depth + 1, fmt::format("{}[{}]", where, i)));
    }
    return Status::Ok();
  }

  Status Value(const json& value, const std::string& where) {
    if (!value.is_number()) {
      return InvalidArgumentError(fmt::format("{}: {} is not a number", where, Shown(value)));
    }
    if (!spec_.integer) {
      const double v = value.get<double>();
      if (!std::isfinite(static_cast<float>(v))) {
        return InvalidArgumentError(fmt::format("{}: {} does not fit in a float32", where, v));
      }
      out_.floats.push_back(static_cast<float>(v));
      return Status::Ok();
    }
    // An int32 input takes int32 values; an int64 one int64 values.
    const double limit = spec_.raw_bytes == 8 ? 0x1p63 : 0x1p31;
    if (value.is_number_integer() &&
        (!value.is_number_unsigned() ||
         value.get<std::uint64_t>() <= std::numeric_limits<std::int64_t>::max())) {
      const std::int64_t v = value.get<std::int64_t>();
      if (static_cast<double>(v) < limit && static_cast<double>(v) >= -limit) {
        out_.ints.push_back(v);
        return Status::Ok();
      }
    }
    const double v = value.get<double>();
    if (value.is_number_float() && std::trunc(v) == v && v < limit && v >= -limit) {
      out_.ints.push_back(static_cast<std::int64_t>(v));
      return Status::Ok();
    }
    return InvalidArgumentError(fmt::format("{}: {} is not an {} (the type of input '{}')", where,
                                            Shown(value), spec_.TypeName(), spec_.name));
  }

  const InputSpec& spec_;
  const std::string where_;
  InputValues& out_;
  std::vector<std::int64_t> shape_;  // the model's sample shape, open sizes resolved
  bool open_ = false;                // the model leaves a size of the sample open
};

}  // namespace

Result<InputBatch> ParseJsonInputs(std::string_view body, std::span<const InputSpec> specs) {
  json document;
  try {
    document = json::parse(body);
  } catch (const json::parse_error& e) {
    return InvalidArgumentError(fmt::format("the body is not JSON: {}", e.what()));
  }
  if (!document.is_object() || !document.contains("inputs")) {
    return InvalidArgumentError(
        R"(the body must be a JSON object {"inputs": {"name": [sample, ...], ...}} or, for a model of one input, {"inputs": [sample, ...]} (or a raw body with X-Kiln-Inputs))");
  }
  const json& inputs = document["inputs"];
  InputBatch batch;
  batch.inputs.resize(specs.size());
  if (inputs.is_array()) {
    if (specs.size() != 1) {
      return InvalidArgumentError(fmt::format(
          R"(inputs: the model takes {} inputs, {}; give each by name: {{"inputs": {{"{}": [sample, ...], ...}}}})",
          specs.size(), Described(specs), specs[0].name));
    }
    KILN_RETURN_IF_ERROR(SampleReader(specs[0], "inputs", batch.inputs[0]).Read(inputs));
    batch.batch = batch.inputs[0].shape[0];
    return batch;
  }
  if (!inputs.is_object()) {
    return InvalidArgumentError(
        "inputs: expected an object of the model's inputs by name, or an array of samples");
  }
  for (const auto& [name, samples] : inputs.items()) {
    const auto spec = std::find_if(specs.begin(), specs.end(),
                                   [&](const InputSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      return InvalidArgumentError(fmt::format("inputs.{}: the model has no input '{}'; it takes {}",
                                              name, name, Described(specs)));
    }
  }
  for (size_t k = 0; k < specs.size(); ++k) {
    const std::string where = fmt::format("inputs.{}", specs[k].name);
    if (!inputs.contains(specs[k].name)) {
      return InvalidArgumentError(
          fmt::format("inputs: no '{}'; the model takes {}", specs[k].name, Described(specs)));
    }
    KILN_RETURN_IF_ERROR(
        SampleReader(specs[k], where, batch.inputs[k]).Read(inputs[specs[k].name]));
    const std::int64_t samples = batch.inputs[k].shape[0];
    if (k > 0 && samples != batch.batch) {
      return InvalidArgumentError(
          fmt::format("{}: {} samples; inputs.{} has {} (each input holds one entry per sample)",
                      where, samples, specs[0].name, batch.batch));
    }
    batch.batch = samples;
  }
  return batch;
}

}  // namespace kiln::serve
