#include "collective/environment.h"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cmath>

#include "collective/hierarchical_data_plane.h"
#include "collective/mpi_data_plane.h"
#include "collective/ring_data_plane.h"
#include "collective/shared_memory_data_plane.h"

extern char** environ;

namespace kiln::collective {
namespace {

const std::string* Find(const std::map<std::string, std::string>& env, const std::string& name) {
  const auto found = env.find(name);
  return found == env.end() || found->second.empty() ? nullptr : &found->second;
}

Result<double> Number(const std::map<std::string, std::string>& env, const std::string& name,
                      double fallback, double min, std::string_view unit) {
  const std::string* text = Find(env, name);
  if (text == nullptr) return fallback;
  double value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || !std::isfinite(value) ||
      value < min) {
    return InvalidArgumentError(fmt::format(
        "kiln.hvd: {}='{}' is not a number of {} of at least {}", name, *text, unit, min));
  }
  return value;
}

Result<int> Integer(const std::map<std::string, std::string>& env,
                    std::initializer_list<const char*> names, int fallback, int min) {
  for (const char* name : names) {
    const std::string* text = Find(env, name);
    if (text == nullptr) continue;
    int value = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || end != text->data() + text->size() || value < min) {
      return InvalidArgumentError(
          fmt::format("kiln.hvd: {}='{}' is not an integer of at least {}", name, *text, min));
    }
    return value;
  }
  return fallback;
}

// Ranks all on this machine allreduce through shared memory; ranks on several machines,
// some sharing one, hierarchically (hierarchical_data_plane.h). KILN_HVD_SHARED_MEMORY=0
// (options.shared_memory) and HOROVOD_HIERARCHICAL_ALLREDUCE=0 turn either off; everything else
// stays on `inner`.
Result<std::unique_ptr<DataPlane>> LocalAllreduce(const std::map<std::string, std::string>& env,
                                                  const Topology& t,
                                                  std::unique_ptr<DataPlane> inner,
                                                  const RuntimeOptions& options) {
  KILN_ASSIGN_OR_RETURN(const int hierarchical,
                        Integer(env, {"HOROVOD_HIERARCHICAL_ALLREDUCE"}, 1, 0));
  if (!options.shared_memory) return inner;
  if (t.local_size == t.size) {
    return SharedMemoryDataPlane::Wrap(std::move(inner), t.rank, t.size, options.spin);
  }
  if (hierarchical == 0) return inner;
  // Ranks of one machine by its host name (the test cluster's nodes have names of their
  // own), not by the launcher's counts, which assume ranks placed in blocks.
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return HierarchicalDataPlane::Wrap(std::move(inner), t.rank, t.size, host, options.spin);
}

}  // namespace

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals != std::string_view::npos) {
      env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
    }
  }
  return env;
}

Result<RuntimeOptions> ReadRuntimeOptions(const std::map<std::string, std::string>& env) {
  RuntimeOptions options;
  CoordinatorOptions& c = options.coordinator;
  KILN_ASSIGN_OR_RETURN(const double threshold,
                        Number(env, "HOROVOD_FUSION_THRESHOLD", 128.0 * 1024 * 1024, 0, "bytes"));
  c.fusion_threshold = static_cast<size_t>(threshold);
  KILN_ASSIGN_OR_RETURN(const double cycle_ms,
                        Number(env, "HOROVOD_CYCLE_TIME", 1.0, 0, "milliseconds"));
  c.cycle_time = std::chrono::microseconds(static_cast<int64_t>(cycle_ms * 1000));
  KILN_ASSIGN_OR_RETURN(const int capacity, Integer(env, {"HOROVOD_CACHE_CAPACITY"}, 1024, 0));
  c.cache_capacity = static_cast<size_t>(capacity);
  KILN_ASSIGN_OR_RETURN(const int stall, Integer(env, {"HOROVOD_STALL_CHECK_TIME_SECONDS"}, 60, 1));
  c.stall_time = std::chrono::seconds(stall);
  KILN_ASSIGN_OR_RETURN(const int disable, Integer(env, {"HOROVOD_STALL_CHECK_DISABLE"}, 0, 0));
  c.stall_check = disable == 0;
  if (const std::string* timeline = Find(env, "HOROVOD_TIMELINE")) options.timeline = *timeline;
  KILN_ASSIGN_OR_RETURN(const int spin, Integer(env, {"KILN_HVD_SPIN_MICROSECONDS"}, 100, 0));
  options.spin = std::chrono::microseconds(spin);
  KILN_ASSIGN_OR_RETURN(const int shared, Integer(env, {"KILN_HVD_SHARED_MEMORY"}, 1, 0));
  options.shared_memory = shared != 0;
  return options;
}

Result<Topology> ReadTopology(const std::map<std::string, std::string>& env) {
  Topology t;
  KILN_ASSIGN_OR_RETURN(t.size, Integer(env, {"HOROVOD_SIZE", "WORLD_SIZE"}, 1, 1));
  KILN_ASSIGN_OR_RETURN(t.rank, Integer(env, {"HOROVOD_RANK", "RANK"}, 0, 0));
  KILN_ASSIGN_OR_RETURN(t.local_size,
                        Integer(env, {"HOROVOD_LOCAL_SIZE", "LOCAL_WORLD_SIZE"}, t.size, 1));
  KILN_ASSIGN_OR_RETURN(t.local_rank, Integer(env, {"HOROVOD_LOCAL_RANK", "LOCAL_RANK"}, 0, 0));
  KILN_ASSIGN_OR_RETURN(
      t.cross_rank, Integer(env, {"HOROVOD_CROSS_RANK", "NODE_RANK"}, t.rank / t.local_size, 0));
  t.cross_size = (t.size + t.local_size - 1) / t.local_size;
  if (t.rank >= t.size || t.local_rank >= t.local_size) {
    return InvalidArgumentError(fmt::format(
        "kiln.hvd: rank {} (local rank {}) does not fit a world of {} ({} per node); check "
        "RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE",
        t.rank, t.local_rank, t.size, t.local_size));
  }
  return t;
}

Result<std::unique_ptr<Runtime>> Runtime::StartFromEnvironment() {
  const std::map<std::string, std::string> env = ProcessEnvironment();
  KILN_ASSIGN_OR_RETURN(RuntimeOptions options, ReadRuntimeOptions(env));
  if (RunningUnderMpirun()) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<MpiDataPlane> mpi, MpiDataPlane::Start());
    Topology t;
    t.rank = mpi->rank();
    t.size = mpi->size();
    KILN_ASSIGN_OR_RETURN(t.local_rank, Integer(env, {"OMPI_COMM_WORLD_LOCAL_RANK"}, 0, 0));
    KILN_ASSIGN_OR_RETURN(t.local_size, Integer(env, {"OMPI_COMM_WORLD_LOCAL_SIZE"}, t.size, 1));
    KILN_ASSIGN_OR_RETURN(t.cross_rank, Integer(env, {"NODE_RANK"}, t.rank / t.local_size, 0));
    t.cross_size = (t.size + t.local_size - 1) / t.local_size;
    // The control star: rank 0 listens on a port of its choosing and tells the others
    // through MPI where to find it.
    RendezvousOptions rendezvous;
    rendezvous.data_mesh = false;
    std::string where;
    if (t.rank == 0) {
      KILN_ASSIGN_OR_RETURN(auto bound, Listen("0.0.0.0", 0));
      rendezvous.listener = std::move(bound.first);
      const std::string* master = Find(env, "MASTER_ADDR");
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      const std::string address = t.local_size == t.size ? "127.0.0.1"
                                  : master != nullptr    ? *master
                                                         : std::string(host);
      where = fmt::format("{}:{}", address, bound.second);
    }
    KILN_ASSIGN_OR_RETURN(where, mpi->BroadcastString(where));
    const size_t colon = where.rfind(':');
    rendezvous.host = where.substr(0, colon);
    rendezvous.port = std::stoi(where.substr(colon + 1));
    KILN_ASSIGN_OR_RETURN(Connections connections,
                          ConnectRanks(t.rank, t.size, std::move(rendezvous)));
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<DataPlane> data,
                          LocalAllreduce(env, t, std::move(mpi), options));
    return Start(t, std::move(connections.control), std::move(data), std::move(options));
  }
  KILN_ASSIGN_OR_RETURN(const Topology t, ReadTopology(env));
  RendezvousOptions rendezvous;
  if (t.size > 1) {
    const std::string* host = Find(env, "HOROVOD_GLOO_RENDEZVOUS_ADDR");
    if (host == nullptr) host = Find(env, "MASTER_ADDR");
    KILN_ASSIGN_OR_RETURN(const int port,
                          Integer(env, {"HOROVOD_GLOO_RENDEZVOUS_PORT", "MASTER_PORT"}, 0, 1));
    if (host == nullptr || port == 0) {
      return InvalidArgumentError(fmt::format(
          "kiln.hvd: WORLD_SIZE is {} but MASTER_ADDR and MASTER_PORT are not both set, so the "
          "ranks cannot find each other; start them as a Kiln job (distributed_backend: gloo or "
          "mpi) or under mpirun",
          t.size));
    }
    rendezvous.host = *host;
    rendezvous.port = port;
  }
  KILN_ASSIGN_OR_RETURN(Connections connections,
                        ConnectRanks(t.rank, t.size, std::move(rendezvous)));
  connections.data.set_spin(options.spin);
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<DataPlane> data,
      LocalAllreduce(env, t, std::make_unique<RingDataPlane>(std::move(connections.data)),
                     options));
  return Start(t, std::move(connections.control), std::move(data), std::move(options));
}

}  // namespace kiln::collective
