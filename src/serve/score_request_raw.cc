// Raw bodies of POST /score: the inputs as little-endian values, described by X-Kiln-Inputs
// (or X-Kiln-Shape for a model of one input). Every size in a header is read and checked on
// its own and every product is checked for overflow and bounded by the body before anything
// is allocated, so no header can make the server size memory it was not sent.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

#include "common/strings.h"
#include "serve/score_request.h"

namespace kiln::serve {

namespace {

// "2,1,28,28" as positive sizes; `where` names the text in errors.
Result<std::vector<std::int64_t>> ParseSizes(std::string_view text, std::string_view where) {
  std::vector<std::int64_t> shape;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string_view size = TrimWhitespace(text.substr(at, comma - at));
    std::int64_t d = 0;
    const auto [stop, error] = std::from_chars(size.data(), size.data() + size.size(), d);
    if (error != std::errc() || stop != size.data() + size.size() || d < 1) {
      return InvalidArgumentError(fmt::format(
          "{}: size {} is '{}'; expected positive sizes (up to {}) separated by commas, "
          "batch first",
          where, shape.size() + 1, size, std::numeric_limits<std::int64_t>::max()));
    }
    shape.push_back(d);
    at = comma + 1;
  }
  return shape;
}

// The one-input form with a fixed float32 sample: X-Kiln-Shape "B,1,28,28" or "B,784".
Result<InputBatch> ParseFixedFloats(std::string_view body, std::string_view shape_header,
                                    const InputSpec& spec) {
  KILN_ASSIGN_OR_RETURN(const std::vector<std::int64_t> shape,
                        ParseSizes(shape_header, fmt::format("X-Kiln-Shape '{}'", shape_header)));
  const std::vector<std::int64_t>& sample_shape = spec.sample_shape;
  const std::int64_t sample_size = std::accumulate(sample_shape.begin(), sample_shape.end(),
                                                   std::int64_t{1}, std::multiplies<>());
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
  InputValues& input = batch.inputs.emplace_back();
  input.shape = {shape[0]};
  input.shape.insert(input.shape.end(), sample_shape.begin(), sample_shape.end());
  input.floats.resize(samples_in_body * static_cast<std::size_t>(sample_size));
  std::memcpy(input.floats.data(), body.data(), body.size());
  for (size_t i = 0; i < input.floats.size(); ++i) {
    if (!std::isfinite(input.floats[i])) {
      return InvalidArgumentError(fmt::format("value {} of the body is not a finite number", i));
    }
  }
  return batch;
}

// "ids=B,? (int64); mask=B,? (int64)": what X-Kiln-Inputs must say.
std::string Expected(std::span<const InputSpec> specs) {
  std::vector<std::string> parts;
  for (const InputSpec& spec : specs) {
    std::string shape = "B";
    for (const std::int64_t d : spec.sample_shape) {
      shape += d == inference::kDynamicDim ? ",?" : fmt::format(",{}", d);
    }
    parts.push_back(fmt::format("{}={} ({})", spec.name, shape, spec.TypeName()));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

// Checks `shape` (batch first, as a header gave it) against the model's input; a sample
// given flat is put back in the model's shape.
Status CheckShape(const InputSpec& spec, std::string_view header, std::string_view text,
                  std::vector<std::int64_t>& shape) {
  const std::vector<std::int64_t>& want = spec.sample_shape;
  const bool fixed = std::find(want.begin(), want.end(), inference::kDynamicDim) == want.end();
  const std::int64_t size =
      fixed ? std::accumulate(want.begin(), want.end(), std::int64_t{1}, std::multiplies<>()) : 0;
  if (fixed && want.size() > 1 && shape.size() == 2 && shape[1] == size) {
    shape.resize(1);
    shape.insert(shape.end(), want.begin(), want.end());
    return Status::Ok();
  }
  bool fits = shape.size() == want.size() + 1;
  for (size_t d = 0; fits && d < want.size(); ++d) {
    fits = want[d] == inference::kDynamicDim || want[d] == shape[d + 1];
  }
  for (size_t d = 0; fits && d < want.size(); ++d) {
    if (want[d] == inference::kDynamicDim && spec.max_open_size > 0 &&
        shape[d + 1] > spec.max_open_size) {
      return InvalidArgumentError(
          fmt::format("{} '{}': dimension {} of input '{}' is {} long; this server takes at "
                      "most {} (kiln serve --max-length)",
                      header, text, d + 1, spec.name, shape[d + 1], spec.max_open_size));
    }
  }
  if (!fits) {
    return InvalidArgumentError(fmt::format(
        "{} '{}': input '{}' is [{}] after the batch; the model takes samples of shape {}{}",
        header, text, spec.name,
        fmt::join(std::vector<std::int64_t>(shape.begin() + 1, shape.end()), ","), ShapeText(want),
        fixed && want.size() > 1 ? fmt::format(" (or {} flat)", size) : ""));
  }
  return Status::Ok();
}

}  // namespace

Result<InputBatch> ParseRawInputs(std::string_view body, std::string_view inputs_header,
                                  std::string_view shape_header, std::span<const InputSpec> specs) {
  std::vector<std::string_view> entries;  // "name=2,128"
  std::string_view header = "X-Kiln-Inputs";
  std::string header_text(inputs_header);
  if (inputs_header.empty()) {
    if (specs.size() != 1) {
      return InvalidArgumentError(fmt::format(
          "a raw body for this model needs the header X-Kiln-Inputs: {} (each input's shape, "
          "batch first, in the body's order){}",
          Expected(specs), shape_header.empty() ? "" : "; X-Kiln-Shape describes one input"));
    }
    if (shape_header.empty()) {
      return InvalidArgumentError(
          specs[0].integer ? fmt::format("a raw body needs the header X-Kiln-Shape: B,d1,d2,... "
                                         "(batch first), its values {}",
                                         specs[0].TypeName())
                           : "a raw float32 body needs the header X-Kiln-Shape: B,d1,d2,... "
                             "(batch first)");
    }
    const std::vector<std::int64_t>& want = specs[0].sample_shape;
    if (!specs[0].integer &&
        std::find(want.begin(), want.end(), inference::kDynamicDim) == want.end()) {
      return ParseFixedFloats(body, shape_header, specs[0]);
    }
    if (shape_header.find_first_of(";=") != std::string_view::npos) {
      return InvalidArgumentError(fmt::format(
          "X-Kiln-Shape '{}': expected sizes separated by commas, batch first (X-Kiln-Inputs "
          "names inputs)",
          shape_header));
    }
    header = "X-Kiln-Shape";
    header_text = fmt::format("{}={}", specs[0].name, shape_header);
  }
  InputBatch batch;
  batch.inputs.resize(specs.size());
  std::vector<bool> given(specs.size(), false);
  std::vector<size_t> order;  // the body's order, as model input indices
  std::vector<std::vector<std::int64_t>> shapes(specs.size());
  const std::string_view all(header_text);
  // The header as the client sent it, for errors.
  const std::string_view quoted = header == "X-Kiln-Shape" ? shape_header : inputs_header;
  for (size_t at = 0; at <= all.size();) {
    const size_t semicolon = std::min(all.find(';', at), all.size());
    const std::string_view entry = TrimWhitespace(all.substr(at, semicolon - at));
    at = semicolon + 1;
    if (entry.empty() && semicolon == all.size() && !order.empty()) break;  // a trailing ';'
    const size_t equals = entry.find('=');
    if (equals == std::string_view::npos) {
      return InvalidArgumentError(fmt::format(
          "X-Kiln-Inputs '{}': '{}' is not name=shape; expected {}", all, entry, Expected(specs)));
    }
    const std::string_view name = TrimWhitespace(entry.substr(0, equals));
    const auto spec = std::find_if(specs.begin(), specs.end(),
                                   [&](const InputSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      return InvalidArgumentError(
          fmt::format("X-Kiln-Inputs '{}': the model has no input '{}'; "
                      "expected {}",
                      all, name, Expected(specs)));
    }
    const size_t k = static_cast<size_t>(spec - specs.begin());
    if (given[k]) {
      return InvalidArgumentError(
          fmt::format("X-Kiln-Inputs '{}': input '{}' is given twice", all, name));
    }
    given[k] = true;
    const std::string_view text = TrimWhitespace(entry.substr(equals + 1));
    KILN_ASSIGN_OR_RETURN(
        shapes[k],
        ParseSizes(text, header == "X-Kiln-Shape"
                             ? fmt::format("X-Kiln-Shape '{}'", shape_header)
                             : fmt::format("X-Kiln-Inputs '{}', input '{}'", all, name)));
    KILN_RETURN_IF_ERROR(CheckShape(*spec, header, quoted, shapes[k]));
    if (!order.empty() && shapes[k][0] != batch.batch) {
      return InvalidArgumentError(
          fmt::format("X-Kiln-Inputs '{}': input '{}' has a batch of {}; '{}' has {} (each input "
                      "holds one entry per sample)",
                      all, name, shapes[k][0], specs[order[0]].name, batch.batch));
    }
    batch.batch = shapes[k][0];
    order.push_back(k);
  }
  for (size_t k = 0; k < specs.size(); ++k) {
    if (!given[k]) {
      return InvalidArgumentError(fmt::format("X-Kiln-Inputs '{}' has no '{}'; expected {}", all,
                                              specs[k].name, Expected(specs)));
    }
  }
  // Each input's bytes, bounded by what is left of the body.
  std::size_t offset = 0;
  for (const size_t k : order) {
    const InputSpec& spec = specs[k];
    std::size_t count = 1;
    bool fits = true;
    for (const std::int64_t d : shapes[k]) {
      fits = fits && !__builtin_mul_overflow(count, static_cast<std::size_t>(d), &count);
    }
    std::size_t bytes = 0;
    fits = fits && !__builtin_mul_overflow(count, static_cast<std::size_t>(spec.raw_bytes), &bytes);
    if (!fits || bytes > body.size() - offset) {
      return InvalidArgumentError(fmt::format(
          "the body has {} bytes; {} '{}' needs {} for input '{}' ({} {}s) from byte {}",
          body.size(), header, header == "X-Kiln-Shape" ? shape_header : all,
          fits ? fmt::format("{} bytes", bytes) : std::string("more than that"), spec.name,
          fits ? std::to_string(count) : "that many", spec.TypeName(), offset));
    }
    InputValues& input = batch.inputs[k];
    input.shape = shapes[k];
    const char* at = body.data() + offset;
    if (!spec.integer) {
      input.floats.resize(count);
      std::memcpy(input.floats.data(), at, bytes);
      for (size_t i = 0; i < count; ++i) {
        if (!std::isfinite(input.floats[i])) {
          return InvalidArgumentError(
              fmt::format("value {} of input '{}' (byte {} of the body) is not a finite number", i,
                          spec.name, offset + i * sizeof(float)));
        }
      }
    } else if (spec.raw_bytes == 8) {
      input.ints.resize(count);
      std::memcpy(input.ints.data(), at, bytes);
    } else {
      std::vector<std::int32_t> narrow(count);
      std::memcpy(narrow.data(), at, bytes);
      input.ints.assign(narrow.begin(), narrow.end());
    }
    offset += bytes;
  }
  if (offset != body.size()) {
    return InvalidArgumentError(fmt::format(
        "the body has {} bytes; {} '{}' describes {}: {} bytes more than its inputs", body.size(),
        header, header == "X-Kiln-Shape" ? shape_header : all, offset, body.size() - offset));
  }
  return batch;
}

}  // namespace kiln::serve
