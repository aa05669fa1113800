#pragma once

// A pickle read without unpickling it: its opcodes walked one by one (pickletools' table,
// protocols 0 to 5) for the globals it names, the classes and functions that unpickling it
// would import and call. What torch_file.h tells a state_dict from a pickled module by.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kiln::client {

// The globals ("module.name") one pickle at data[*pos] names, and whether its outermost
// object is a dict. Advances *pos past its STOP opcode; InvalidArgument for an unknown
// opcode or a truncated pickle.
struct PickleFacts {
  std::vector<std::string> globals;
  bool top_is_dict = false;
};
Result<PickleFacts> WalkPickle(std::string_view data, std::size_t* pos);

// Whether a pickle with these facts holds tensors and plain data only, in a dict: every
// global is one of torch's tensor and storage rebuilders, a dtype, torch.Size, torch.device,
// collections.OrderedDict or a plain builtin.
bool IsStateDict(const PickleFacts& facts);

}  // namespace kiln::client
