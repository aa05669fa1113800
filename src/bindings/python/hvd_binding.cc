// kiln._hvd: the torch adapter of the collective runtime (src/collective). It turns torch
// tensors into the runtime's pointer-dtype-shape entries and keeps them alive until their
// op is done; kiln/hvd (Python) builds horovod.torch's API on it. The only file of Kiln
// that includes torch's headers.

#include <torch/extension.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "bindings/cpp/hvd.h"
#include "collective/runtime.h"

namespace kiln::python {
namespace {

namespace col = kiln::collective;

using kiln::hvd::ToDataType;

// One op in flight: the tensors it reads and writes, kept alive until synchronize().
struct Pending {
  std::shared_ptr<col::OpHandle> handle;
  at::Tensor input;   // what the runtime reads (contiguous, on the host)
  at::Tensor work;    // what the runtime writes (contiguous, on the host)
  at::Tensor result;  // what the caller gets: `work`, or a tensor `work` is copied into
  std::shared_ptr<at::Tensor> allocated;  // allgather, alltoall, reducescatter: the output
  col::OpType op = col::OpType::kAllreduce;
};

class State {
 public:
  col::Runtime& runtime() {
    if (!runtime_) throw std::runtime_error("kiln.hvd has not been initialized; call hvd.init()");
    return *runtime_;
  }
  bool initialized() const { return runtime_ != nullptr; }

  void Init() {
    if (runtime_) return;
    Result<std::unique_ptr<col::Runtime>> started = col::Runtime::StartFromEnvironment();
    if (!started.ok()) throw std::runtime_error(started.status().message());
    runtime_ = std::move(started).value();
  }

  void Shutdown() {
    std::unique_ptr<col::Runtime> runtime = std::move(runtime_);
    if (runtime) runtime->Shutdown();
    std::lock_guard lock(mutex_);
    pending_.clear();
  }

  int Add(Pending pending) {
    std::lock_guard lock(mutex_);
    const int id = next_id_++;
    pending_.emplace(id, std::move(pending));
    return id;
  }

  // Null when `id` is not in flight.
  std::shared_ptr<col::OpHandle> HandleOf(int id) {
    std::lock_guard lock(mutex_);
    const auto found = pending_.find(id);
    return found == pending_.end() ? nullptr : found->second.handle;
  }

  Pending* Find(int id) {
    std::lock_guard lock(mutex_);
    const auto found = pending_.find(id);
    if (found == pending_.end()) {
      throw pybind11::value_error("kiln.hvd: handle " + std::to_string(id) +
                                  " is not an op in flight (synchronized already?)");
    }
    return &found->second;
  }

  // Empty when another thread took it first.
  std::optional<Pending> Take(int id) {
    std::lock_guard lock(mutex_);
    const auto found = pending_.find(id);
    if (found == pending_.end()) return std::nullopt;
    Pending pending = std::move(found->second);
    pending_.erase(found);
    return pending;
  }

 private:
  std::unique_ptr<col::Runtime> runtime_;
  std::mutex mutex_;
  std::map<int, Pending> pending_;
  int next_id_ = 1;
};

State& state() {
  static State* instance = new State();  // outlives interpreter teardown on purpose
  return *instance;
}

// The host, contiguous form of a tensor the runtime can read.
at::Tensor HostInput(const at::Tensor& tensor) { return tensor.to(at::kCPU).contiguous(); }

col::TensorEntry MakeEntry(col::OpType op, const std::string& name, int process_set,
                           const at::Tensor& input) {
  col::TensorEntry entry;
  entry.request.name = name;
  entry.request.process_set = process_set;
  entry.request.op = op;
  entry.request.dtype = ToDataType(input);
  entry.request.shape = input.sizes().vec();
  entry.input = input.data_ptr();
  return entry;
}

// Registers the op, then hands it to the runtime. `wake` false: the caller synchronizes
// next and does the work itself (Runtime::Wait).
int Submit(col::TensorEntry entry, Pending pending, bool wake) {
  pending.op = entry.request.op;
  pending.handle = entry.handle;
  const int id = state().Add(std::move(pending));
  pybind11::gil_scoped_release released;
  state().runtime().Enqueue(std::move(entry), wake);
  return id;
}

// allreduce and broadcast write a tensor of the input's shape: `output` itself when it is
// a contiguous host tensor, else a staging copy that synchronize() copies back.
int InPlaceOp(col::OpType op, const at::Tensor& tensor, const at::Tensor& output,
              const std::string& name, int process_set, int reduce_op, double prescale,
              double postscale, int root, bool wake) {
  Pending pending;
  pending.result = output;
  pending.input = HostInput(tensor);
  const bool direct = output.device().is_cpu() && output.is_contiguous() &&
                      output.scalar_type() == tensor.scalar_type();
  // The runtime copies the input into the output itself when they differ.
  pending.work = direct ? output : pending.input.clone();
  col::TensorEntry entry = MakeEntry(op, name, process_set, pending.input);
  entry.output = pending.work.data_ptr();
  entry.request.reduce_op = static_cast<col::ReduceOp>(reduce_op);
  entry.request.prescale = prescale;
  entry.request.postscale = postscale;
  entry.request.root = root;
  return Submit(std::move(entry), std::move(pending), wake);
}

// allgather, alltoall, reducescatter: the output's shape is known only after negotiation.
int AllocatingOp(col::OpType op, const at::Tensor& tensor, const std::string& name, int process_set,
                 std::vector<int64_t> splits, int reduce_op, double prescale, double postscale,
                 bool wake) {
  Pending pending;
  pending.input = HostInput(tensor);
  pending.result = tensor;  // the output goes back to this tensor's device
  col::TensorEntry entry = MakeEntry(op, name, process_set, pending.input);
  entry.request.splits = std::move(splits);
  entry.request.reduce_op = static_cast<col::ReduceOp>(reduce_op);
  entry.request.prescale = prescale;
  entry.request.postscale = postscale;
  // Runs on the background thread (or the waiting caller) without the GIL, which torch's
  // allocation does not need. The shared pointer outlives the handle table's entry.
  auto output = std::make_shared<at::Tensor>();
  const at::TensorOptions options = pending.input.options();
  entry.allocate_output = [output, options](const std::vector<int64_t>& shape) -> Result<void*> {
    *output = at::empty(shape, options);
    return output->data_ptr();
  };
  pending.allocated = output;
  return Submit(std::move(entry), std::move(pending), wake);
}

pybind11::object Synchronize(int id) {
  // As horovod.torch: a handle that is not in flight (synchronized already) gives None.
  std::shared_ptr<col::OpHandle> handle = state().HandleOf(id);
  if (handle == nullptr) return pybind11::none();
  Status status;
  {
    pybind11::gil_scoped_release released;
    status = state().runtime().Wait(handle);
  }
  std::optional<Pending> taken = state().Take(id);
  if (!taken) return pybind11::none();  // another thread synchronized it meanwhile
  Pending& pending = *taken;
  if (!status.ok()) throw std::runtime_error(status.message());
  switch (pending.op) {
    case col::OpType::kAllreduce:
    case col::OpType::kBroadcast:
      if (!pending.work.is_same(pending.result)) pending.result.copy_(pending.work);
      return pybind11::cast(pending.result);
    case col::OpType::kAllgather:
    case col::OpType::kReducescatter:
      return pybind11::cast(pending.allocated->to(pending.result.device()));
    case col::OpType::kAlltoall:
      return pybind11::make_tuple(pending.allocated->to(pending.result.device()),
                                  torch::tensor(handle->received_splits, at::kInt));
    case col::OpType::kJoin:
      return pybind11::cast(handle->last_joined_rank);
    default:
      return pybind11::none();
  }
}

int NoTensorOp(col::OpType op, const std::string& name, int process_set, bool wake) {
  col::TensorEntry entry;
  entry.request.name = name;
  entry.request.process_set = process_set;
  entry.request.op = op;
  Pending pending;
  return Submit(std::move(entry), std::move(pending), wake);
}

}  // namespace
}  // namespace kiln::python

PYBIND11_MODULE(_hvd, module) {
  using namespace kiln::python;
  namespace py = pybind11;
  module.doc() = "kiln.hvd's C++ core: the collective runtime over torch tensors";
  module.def("init", [] {
    py::gil_scoped_release released;
    state().Init();
  });
  module.def("shutdown", [] {
    py::gil_scoped_release released;
    state().Shutdown();
  });
  module.def("is_initialized", [] { return state().initialized(); });
  module.def("rank", [] { return state().runtime().topology().rank; });
  module.def("size", [] { return state().runtime().topology().size; });
  module.def("local_rank", [] { return state().runtime().topology().local_rank; });
  module.def("local_size", [] { return state().runtime().topology().local_size; });
  module.def("cross_rank", [] { return state().runtime().topology().cross_rank; });
  module.def("cross_size", [] { return state().runtime().topology().cross_size; });
  module.def("data_plane", [] { return std::string(state().runtime().data_plane()); });
  module.def(
      "allreduce_async",
      [](const at::Tensor& tensor, const at::Tensor& output, const std::string& name, int op,
         double prescale, double postscale, bool wake, int process_set) {
        return InPlaceOp(col::OpType::kAllreduce, tensor, output, name, process_set, op, prescale,
                         postscale, -1, wake);
      },
      py::arg("tensor"), py::arg("output"), py::arg("name"), py::arg("op"), py::arg("prescale"),
      py::arg("postscale"), py::arg("wake") = true, py::arg("process_set") = 0);
  module.def(
      "broadcast_async",
      [](const at::Tensor& tensor, const at::Tensor& output, const std::string& name, int root,
         bool wake, int process_set) {
        return InPlaceOp(col::OpType::kBroadcast, tensor, output, name, process_set, 1, 1.0, 1.0,
                         root, wake);
      },
      py::arg("tensor"), py::arg("output"), py::arg("name"), py::arg("root"),
      py::arg("wake") = true, py::arg("process_set") = 0);
  module.def(
      "allgather_async",
      [](const at::Tensor& tensor, const std::string& name, bool wake, int process_set) {
        return AllocatingOp(col::OpType::kAllgather, tensor, name, process_set, {}, 1, 1.0, 1.0,
                            wake);
      },
      py::arg("tensor"), py::arg("name"), py::arg("wake") = true, py::arg("process_set") = 0);
  module.def(
      "alltoall_async",
      [](const at::Tensor& tensor, std::vector<int64_t> splits, const std::string& name, bool wake,
         int process_set) {
        return AllocatingOp(col::OpType::kAlltoall, tensor, name, process_set, std::move(splits), 1,
                            1.0, 1.0, wake);
      },
      py::arg("tensor"), py::arg("splits"), py::arg("name"), py::arg("wake") = true,
      py::arg("process_set") = 0);
  module.def(
      "reducescatter_async",
      [](const at::Tensor& tensor, const std::string& name, int op, double prescale,
         double postscale, bool wake, int process_set) {
        return AllocatingOp(col::OpType::kReducescatter, tensor, name, process_set, {}, op,
                            prescale, postscale, wake);
      },
      py::arg("tensor"), py::arg("name"), py::arg("op"), py::arg("prescale"), py::arg("postscale"),
      py::arg("wake") = true, py::arg("process_set") = 0);
  module.def(
      "barrier_async",
      [](const std::string& name, bool wake, int process_set) {
        return NoTensorOp(col::OpType::kBarrier, name, process_set, wake);
      },
      py::arg("name"), py::arg("wake") = true, py::arg("process_set") = 0);
  module.def(
      "join_async", [](bool wake) { return NoTensorOp(col::OpType::kJoin, "join", 0, wake); },
      py::arg("wake") = true);
  // Process sets: kiln/hvd/process_sets.py keeps the ids and makes the calls collective.
  module.def("add_process_set", [](int id, std::vector<int> ranks) {
    const kiln::Status status = state().runtime().AddProcessSet(id, std::move(ranks));
    if (!status.ok()) throw pybind11::value_error(status.message());
  });
  module.def("remove_process_set", [](int id) {
    const kiln::Status status = state().runtime().RemoveProcessSet(id);
    if (!status.ok()) throw pybind11::value_error(status.message());
  });
  module.def("process_set_ranks", [](int id) { return state().runtime().ProcessSetRanks(id); });
  module.def("poll", [](int id) { return state().Find(id)->handle->Poll(); });
  module.def("synchronize", &Synchronize);
  module.def("start_timeline", [](const std::string& path) {
    const kiln::Status status = state().runtime().StartTimeline(path);
    if (!status.ok()) throw std::runtime_error(status.message());
  });
  module.def("stop_timeline", [] { state().runtime().StopTimeline(); });
}
