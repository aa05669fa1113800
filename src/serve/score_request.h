#pragma once

// The bodies of POST /score (docs/serving.md), read into one batch of every model input:
//   JSON: {"inputs": {"ids": [sample, ...], "mask": [sample, ...]}}, every input by name, or
//         {"inputs": [sample, ...]} for a model of one input; each sample nested as the
//         input without its batch dimension ([1][28][28]), or flat (784 numbers) where every
//         dimension is fixed. An open dimension (a sequence length) takes the size of the
//         request's first sample, and every sample of the request must have it.
//   raw:  Content-Type application/octet-stream, the inputs one after another, each
//         little-endian in the model's type (float32, int64, int32), described by
//         X-Kiln-Inputs "ids=2,128; mask=2,128" (batch first, in the body's order) or, for a
//         model of one input, X-Kiln-Shape "2,1,28,28".
// Every error is InvalidArgument with the place and the reason: "inputs.ids[2]: expected an
// array of 7 (inputs.ids[0] has [7]; every sample of a request has the same shape)".

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "inference/engine.h"

namespace kiln::serve {

// What a request must hold for one model input.
struct InputSpec {
  std::string name;
  bool integer = false;                    // ids and masks (int64, int32); float32 otherwise
  int raw_bytes = 4;                       // per value in a raw body: 8 for int64
  std::vector<std::int64_t> sample_shape;  // without the batch; inference::kDynamicDim if open
  // The most an open dimension may be (kiln serve --max-length): a sequence's length bounds
  // the memory and time a request takes, which its body size does not (attention is
  // quadratic in it). 0: no bound.
  std::int64_t max_open_size = 0;

  static InputSpec Of(const inference::ValueInfo& input);
  std::string TypeName() const;  // "float32", "int64", "int32"
};

// One input's values in a request, batch first.
struct InputValues {
  std::vector<std::int64_t> shape;
  std::vector<float> floats;       // a float32 input
  std::vector<std::int64_t> ints;  // an integer input
};

struct InputBatch {
  std::int64_t batch = 0;
  std::vector<InputValues> inputs;  // in the model's order

  // Views of this batch for Engine::Run; valid while the batch is.
  std::vector<inference::InputTensor> Tensors() const;
  // Whether `other` can run in one batch with this one: every input's sample shape alike.
  bool Joins(const InputBatch& other) const;
};

// "[?,3,224,224]": a shape as request errors print it, ? for an open size.
std::string ShapeText(const std::vector<std::int64_t>& shape);

Result<InputBatch> ParseJsonInputs(std::string_view body, std::span<const InputSpec> specs);
// `inputs_header`: X-Kiln-Inputs; `shape_header`: X-Kiln-Shape (one-input models); either
// may be empty.
Result<InputBatch> ParseRawInputs(std::string_view body, std::string_view inputs_header,
                                  std::string_view shape_header, std::span<const InputSpec> specs);

}  // namespace kiln::serve
