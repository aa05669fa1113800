#pragma once

// What a file written by PyTorch holds, read from its structure alone: nothing in it is run
// or unpickled, and only its directory and its pickle are read (a state_dict of gigabytes
// costs a few reads).
//
//   torch.jit.save (TorchScript): a zip archive with <name>/code/... and constants.pkl;
//   torch.save (since PyTorch 1.6): a zip archive with <name>/data.pkl and data/<n> files;
//   torch.save(_use_new_zipfile_serialization=False): a stream of pickles that starts with
//     torch's magic number; the fourth is the object.
// The object's pickle is walked opcode by opcode (pickle_scan.h), collecting the globals it names
// (the classes and functions unpickling it would import and call). A dict (or OrderedDict) whose
// globals are all of torch's tensor and storage rebuilders (and a few plain builtins) holds
// tensors and plain data only: a state_dict, or a checkpoint of state_dicts. Anything else,
// a whole nn.Module above all, names the user's classes: loading it runs their code.

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::client {

enum class TorchFileKind {
  kNotTorch,     // neither a torch archive nor a legacy torch.save stream
  kTorchScript,  // torch.jit.save
  kStateDict,    // torch.save of a dict of tensors and plain data
  kPickle,       // torch.save of anything else, or a pickle this reader could not follow
};

std::string_view TorchFileKindName(TorchFileKind kind);

// Reads `path`'s structure. Errors only when the file cannot be read (ErrnoError);
// a damaged or foreign file is kNotTorch or kPickle.
Result<TorchFileKind> InspectTorchFile(const std::filesystem::path& path);

}  // namespace kiln::client
