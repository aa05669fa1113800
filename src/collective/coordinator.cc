#include "collective/coordinator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <tuple>

namespace kiln::collective {
namespace {

bool Cacheable(OpType op) {
  return op == OpType::kAllreduce || op == OpType::kBroadcast || op == OpType::kReducescatter;
}

// Equal shapes are required by these ops; allgather and alltoall only need the dimensions
// after the first to agree.
bool NeedsEqualShapes(OpType op) { return Cacheable(op); }

std::string Shape(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string Ranks(const std::vector<int>& ranks) {
  return fmt::format("{}", fmt::join(ranks, ", "));
}

// Rows of a first dimension of `rows` each rank receives: even, the first ranks one more.
std::vector<int64_t> EvenRows(int64_t rows, int size) {
  std::vector<int64_t> out(static_cast<size_t>(size), rows / size);
  for (int64_t i = 0; i < rows % size; ++i) ++out[static_cast<size_t>(i)];
  return out;
}

}  // namespace

size_t ResponseBytes(const Response& response) {
  const int64_t elements =
      std::accumulate(response.element_counts.begin(), response.element_counts.end(), int64_t{0});
  return static_cast<size_t>(elements) * ElementSize(response.dtype);
}

Coordinator::Coordinator(int size, CoordinatorOptions options)
    : size_(size),
      options_(options),
      cache_(options.cache_capacity),
      bits_(static_cast<size_t>(size)) {
  std::vector<int> everyone(static_cast<size_t>(size));
  std::iota(everyone.begin(), everyone.end(), 0);
  sets_[0] = std::move(everyone);
}

void Coordinator::AddProcessSet(int32_t id, std::vector<int> ranks) {
  sets_[id] = std::move(ranks);
}

void Coordinator::RemoveProcessSet(int32_t id) {
  if (id == 0) return;
  const auto fail = [&](int32_t set, const std::string& name) {
    Response error;
    error.kind = Response::Kind::kError;
    error.process_set = set;
    error.names = {name};
    error.cache_slots = {-1};
    error.error =
        fmt::format("Process set {} was removed while tensor '{}' waited in it.", set, name);
    ready_.push_back(std::move(error));
  };
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->first.first != id) {
      ++it;
      continue;
    }
    fail(id, it->first.second);
    it = table_.erase(it);
  }
  for (auto it = bit_since_.begin(); it != bit_since_.end();) {
    const int32_t slot = it->first;
    if (cache_.Signature(slot)->process_set != id) {
      ++it;
      continue;
    }
    fail(id, cache_.Name(slot));
    for (auto& bits : bits_) ClearBit(bits, slot);
    bit_warned_.erase(slot);
    it = bit_since_.erase(it);
  }
  sets_.erase(id);
}

void Coordinator::Add(int rank, const RequestList& list, Clock::time_point now) {
  if (list.shutdown) shut_down_.insert(rank);
  if (!list.requests.empty() || !list.cached.empty()) last_arrival_ = now;
  // A request in a set this coordinator does not know, or from a rank outside it: the
  // ranks disagree on their process sets. It fails at once instead of waiting forever.
  const auto refuse_outside_set = [&](const Request& request) {
    const auto set = sets_.find(request.process_set);
    if (set != sets_.end() && std::binary_search(set->second.begin(), set->second.end(), rank)) {
      return false;
    }
    Response error;
    error.kind = Response::Kind::kError;
    error.process_set = request.process_set;
    error.names = {request.name};
    error.cache_slots = {-1};
    error.error = fmt::format(
        "Tensor '{}': rank {} asked for it in process set {}, which {}. Every rank must add the "
        "same process sets, in the same order.",
        request.name, rank, request.process_set,
        set == sets_.end() ? "rank 0 does not know" : "does not include that rank");
    ready_.push_back(std::move(error));
    return true;
  };
  for (const Request& request : list.requests) {
    if (request.op == OpType::kJoin) {
      joined_.insert(rank);
      last_joined_ = rank;
      continue;
    }
    if (refuse_outside_set(request)) continue;
    auto [entry, inserted] = table_.try_emplace(TensorKey{request.process_set, request.name});
    if (inserted) entry->second.first_seen = entry->second.last_warned = now;
    entry->second.by_rank[rank] = request;
  }
  std::vector<uint64_t>& bits = bits_[static_cast<size_t>(rank)];
  if (bits.size() < list.cached.size()) bits.resize(list.cached.size(), 0);
  for (size_t word = 0; word < list.cached.size(); ++word) {
    uint64_t fresh = list.cached[word] & ~bits[word];
    bits[word] |= list.cached[word];
    while (fresh != 0) {
      const int bit = __builtin_ctzll(fresh);
      fresh &= fresh - 1;
      const auto slot = static_cast<int32_t>(word * 64 + static_cast<size_t>(bit));
      if (refuse_outside_set(*cache_.Signature(slot))) {
        ClearBit(bits, slot);
        continue;
      }
      bit_since_.try_emplace(slot, now);
    }
  }
}

void Coordinator::MoveBitsToTable() {
  for (int rank = 0; rank < size_; ++rank) {
    std::vector<uint64_t>& bits = bits_[static_cast<size_t>(rank)];
    for (size_t word = 0; word < bits.size(); ++word) {
      uint64_t set = bits[word];
      while (set != 0) {
        const int bit = __builtin_ctzll(set);
        set &= set - 1;
        const auto slot = static_cast<int32_t>(word * 64 + static_cast<size_t>(bit));
        const auto entry =
            table_.find(TensorKey{cache_.Signature(slot)->process_set, cache_.Name(slot)});
        if (entry == table_.end()) continue;
        // Some rank sent this name whole (its signature changed): settle it in the table.
        entry->second.by_rank[rank] = *cache_.Signature(slot);
        ClearBit(bits, slot);
        bit_since_.erase(slot);
      }
    }
  }
}

Response Coordinator::Decide(const TensorKey& key, const Pending& pending) {
  const std::string& name = key.second;
  const std::vector<int>& members = sets_.at(key.first);
  const int n = static_cast<int>(members.size());
  const auto& [first_rank, first] = *pending.by_rank.begin();
  Response response;
  response.process_set = key.first;
  response.op = first.op;
  response.dtype = first.dtype;
  response.reduce_op = first.reduce_op;
  response.root = first.root;
  response.prescale = first.prescale;
  response.postscale = first.postscale;
  response.names = {name};
  response.cache_slots = {-1};
  const auto fail = [&](std::string text) {
    response.kind = Response::Kind::kError;
    response.error = std::move(text);
    return response;
  };
  for (const auto& [rank, request] : pending.by_rank) {
    if (request.op != first.op) {
      return fail(
          fmt::format("Mismatched operations on tensor '{}': rank {} asked for {}, "
                      "rank {} for {}.",
                      name, first_rank, OpTypeName(first.op), rank, OpTypeName(request.op)));
    }
    if (request.dtype != first.dtype) {
      return fail(
          fmt::format("Mismatched data types on tensor '{}' ({}): rank {} has {}, rank "
                      "{} has {}.",
                      name, OpTypeName(first.op), first_rank, DataTypeName(first.dtype), rank,
                      DataTypeName(request.dtype)));
    }
    if (NeedsEqualShapes(first.op) && request.shape != first.shape) {
      return fail(fmt::format(
          "Mismatched {} tensor shapes on tensor '{}': rank {} has {}, rank "
          "{} has {}.",
          OpTypeName(first.op), name, first_rank, Shape(first.shape), rank, Shape(request.shape)));
    }
    if (!NeedsEqualShapes(first.op) &&
        (request.shape.size() != first.shape.size() ||
         !std::equal(request.shape.begin() + (request.shape.empty() ? 0 : 1), request.shape.end(),
                     first.shape.begin() + (first.shape.empty() ? 0 : 1)))) {
      return fail(fmt::format(
          "Mismatched {} tensor shapes on tensor '{}': rank {} has {}, rank "
          "{} has {}; all dimensions but the first must agree.",
          OpTypeName(first.op), name, first_rank, Shape(first.shape), rank, Shape(request.shape)));
    }
    if (request.reduce_op != first.reduce_op) {
      return fail(fmt::format(
          "Mismatched reduce ops on tensor '{}': rank {} uses {}, rank {} "
          "uses {}.",
          name, first_rank, ReduceOpName(first.reduce_op), rank, ReduceOpName(request.reduce_op)));
    }
    if (request.prescale != first.prescale || request.postscale != first.postscale) {
      return fail(
          fmt::format("Mismatched prescale/postscale factors on tensor '{}': rank {} "
                      "has {}/{}, rank {} has {}/{}.",
                      name, first_rank, first.prescale, first.postscale, rank, request.prescale,
                      request.postscale));
    }
    if (request.root != first.root) {
      return fail(
          fmt::format("Mismatched broadcast root ranks on tensor '{}': rank {} has root "
                      "{}, rank {} has root {}.",
                      name, first_rank, first.root, rank, request.root));
    }
  }
  if (first.op == OpType::kBroadcast &&
      !std::binary_search(members.begin(), members.end(), first.root)) {
    return fail(
        fmt::format("Broadcast of tensor '{}' from root rank {}, but the ranks of "
                    "process set {} are [{}].",
                    name, first.root, key.first, Ranks(members)));
  }
  if (key.first == 0 && !joined_.empty() && first.op != OpType::kAllreduce) {
    return fail(fmt::format(
        "Tensor '{}': {} cannot run while ranks {} have joined; only "
        "allreduce runs alongside join.",
        name, OpTypeName(first.op), Ranks(std::vector<int>(joined_.begin(), joined_.end()))));
  }
  switch (first.op) {
    case OpType::kAllreduce:
      response.element_counts = {first.NumElements()};
      break;
    case OpType::kAllgather:
      for (const auto& [rank, request] : pending.by_rank) {
        response.sizes.push_back(request.shape.empty() ? 1 : request.shape[0]);
      }
      break;
    case OpType::kAlltoall:
      for (const auto& [rank, request] : pending.by_rank) {
        if (static_cast<int>(request.splits.size()) != n) {
          return fail(fmt::format("Alltoall of tensor '{}': rank {} gave {} splits for {} ranks.",
                                  name, rank, request.splits.size(), n));
        }
        response.sizes.insert(response.sizes.end(), request.splits.begin(), request.splits.end());
      }
      break;
    case OpType::kReducescatter:
      response.sizes = EvenRows(first.shape.empty() ? 1 : first.shape[0], n);
      break;
    default:
      break;
  }
  if (Cacheable(first.op)) {
    response.cache_slots = {cache_.Assign(first).value_or(-1)};
  }
  return response;
}

bool Coordinator::AskedByAll(int32_t set, const std::function<bool(int)>& asked) const {
  for (int rank : sets_.at(set)) {
    if (!asked(rank) && !(set == 0 && joined_.count(rank))) return false;
  }
  return true;
}

void Coordinator::CollectReady() {
  MoveBitsToTable();
  for (auto it = table_.begin(); it != table_.end();) {
    const auto& by_rank = it->second.by_rank;
    if (!by_rank.empty() &&
        AskedByAll(it->first.first, [&](int rank) { return by_rank.count(rank) != 0; })) {
      ready_.push_back(Decide(it->first, it->second));
      it = table_.erase(it);
    } else {
      ++it;
    }
  }
  // A slot is ready when every rank of its set has its bit: test the slots set anywhere.
  std::vector<uint64_t> any;
  for (const auto& bits : bits_) {
    if (any.size() < bits.size()) any.resize(bits.size(), 0);
    for (size_t word = 0; word < bits.size(); ++word) any[word] |= bits[word];
  }
  for (size_t word = 0; word < any.size(); ++word) {
    while (any[word] != 0) {
      const int bit = __builtin_ctzll(any[word]);
      any[word] &= any[word] - 1;
      const auto slot = static_cast<int32_t>(word * 64 + static_cast<size_t>(bit));
      const Request& signature = *cache_.Signature(slot);
      const auto has_bit = [&](int rank) {
        return TestBit(bits_[static_cast<size_t>(rank)], slot);
      };
      if (!AskedByAll(signature.process_set, has_bit)) continue;
      Pending pending;
      pending.by_rank[0] = signature;  // Decide reads only the signature of a cache hit
      Response response = Decide(TensorKey{signature.process_set, signature.name}, pending);
      // A hit travels as its slot alone (message.h).
      if (response.kind == Response::Kind::kRun) response.names[0].clear();
      ready_.push_back(std::move(response));
      for (auto& bits : bits_) ClearBit(bits, slot);
      bit_since_.erase(slot);
      bit_warned_.erase(slot);
    }
  }
  if (!joined_.empty() && static_cast<int>(joined_.size()) == size_) {
    Response join;
    join.op = OpType::kJoin;
    join.last_joined_rank = last_joined_;
    ready_.push_back(std::move(join));
    joined_.clear();
  }
}

bool Coordinator::SomethingHalfAsked() const {
  if (!table_.empty()) return true;
  for (const auto& bits : bits_) {
    for (uint64_t word : bits) {
      if (word != 0) return true;
    }
  }
  return false;
}

std::vector<Response> Coordinator::Fuse(std::vector<Response> ready) const {
  std::vector<Response> out;
  using Key = std::tuple<int32_t, DataType, ReduceOp, double, double>;
  std::map<Key, size_t> open;  // key: index in `out` of the group still taking tensors
  for (Response& response : ready) {
    if (response.kind != Response::Kind::kRun || response.op != OpType::kAllreduce) {
      out.push_back(std::move(response));
      continue;
    }
    const Key key{response.process_set, response.dtype, response.reduce_op, response.prescale,
                  response.postscale};
    const auto group = open.find(key);
    if (group != open.end() &&
        ResponseBytes(out[group->second]) + ResponseBytes(response) <= options_.fusion_threshold) {
      Response& fused = out[group->second];
      fused.names.push_back(std::move(response.names[0]));
      fused.cache_slots.push_back(response.cache_slots[0]);
      fused.element_counts.push_back(response.element_counts[0]);
      continue;
    }
    open[key] = out.size();
    out.push_back(std::move(response));
  }
  return out;
}

std::vector<Response> Coordinator::TakeReady(Clock::time_point now) {
  CollectReady();
  if (ready_.empty()) {
    held_since_.reset();
    return {};
  }
  if (!held_since_) held_since_ = now;
  if (SomethingHalfAsked() && now < *HeldUntil()) return {};
  held_since_.reset();
  return Fuse(std::exchange(ready_, {}));
}

std::optional<Clock::time_point> Coordinator::HeldUntil() const {
  if (!held_since_) return std::nullopt;
  return std::min(*held_since_ + options_.cycle_time, last_arrival_ + options_.cycle_time / 5);
}

std::vector<std::string> Coordinator::StallWarnings(Clock::time_point now) {
  std::vector<std::string> lines;
  if (!options_.stall_check) return lines;
  const auto describe = [&](int32_t set, const std::string& name, const std::set<int>& asked) {
    std::vector<int> have(asked.begin(), asked.end());
    std::vector<int> missing;
    for (int rank : sets_.at(set)) {
      if (!asked.count(rank) && !(set == 0 && joined_.count(rank))) missing.push_back(rank);
    }
    return fmt::format("'{}'{} submitted by ranks [{}], missing ranks [{}]", name,
                       set == 0 ? "" : fmt::format(" (process set {})", set), Ranks(have),
                       Ranks(missing));
  };
  for (auto& [key, pending] : table_) {
    if (now - pending.first_seen < options_.stall_time ||
        (pending.last_warned != pending.first_seen &&
         now - pending.last_warned < options_.stall_time)) {
      continue;
    }
    pending.last_warned = now;
    std::set<int> asked;
    for (const auto& [rank, request] : pending.by_rank) asked.insert(rank);
    lines.push_back(describe(key.first, key.second, asked));
  }
  for (const auto& [slot, since] : bit_since_) {
    auto [warned, fresh] = bit_warned_.try_emplace(slot, since);
    if (now - since < options_.stall_time ||
        (!fresh && warned->second != since && now - warned->second < options_.stall_time)) {
      continue;
    }
    warned->second = now;
    std::set<int> asked;
    for (int rank = 0; rank < size_; ++rank) {
      if (TestBit(bits_[static_cast<size_t>(rank)], slot)) asked.insert(rank);
    }
    lines.push_back(describe(cache_.Signature(slot)->process_set, cache_.Name(slot), asked));
  }
  return lines;
}

}  // namespace kiln::collective
