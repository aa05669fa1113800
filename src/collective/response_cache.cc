#include "collective/response_cache.h"

namespace kiln::collective {

std::optional<int32_t> ResponseCache::Find(const Request& request) const {
  const auto found = by_name_.find({request.process_set, request.name});
  if (found == by_name_.end()) return std::nullopt;
  const std::optional<Request>& signature = slots_.at(found->second).signature;
  if (!signature || !signature->SameSignature(request)) return std::nullopt;
  return found->second;
}

std::optional<int32_t> ResponseCache::FindName(int32_t process_set, const std::string& name) const {
  const auto found = by_name_.find({process_set, name});
  if (found == by_name_.end()) return std::nullopt;
  return found->second;
}

std::optional<int32_t> ResponseCache::Assign(const Request& request) {
  std::optional<int32_t> slot = FindName(request.process_set, request.name);
  if (!slot) {
    if (slots_.size() >= capacity_) return std::nullopt;
    slot = static_cast<int32_t>(slots_.size());
  }
  Put(*slot, request.process_set, request.name, request);
  return slot;
}

void ResponseCache::Put(int32_t slot, int32_t process_set, const std::string& name,
                        const std::optional<Request>& signature) {
  slots_[slot] = Entry{process_set, name, signature};
  by_name_[{process_set, name}] = slot;
}

void SetBit(std::vector<uint64_t>& bits, int32_t slot) {
  const auto word = static_cast<size_t>(slot) / 64;
  if (bits.size() <= word) bits.resize(word + 1, 0);
  bits[word] |= uint64_t{1} << (slot % 64);
}

bool TestBit(const std::vector<uint64_t>& bits, int32_t slot) {
  const auto word = static_cast<size_t>(slot) / 64;
  return word < bits.size() && (bits[word] >> (slot % 64) & 1u) != 0;
}

void ClearBit(std::vector<uint64_t>& bits, int32_t slot) {
  const auto word = static_cast<size_t>(slot) / 64;
  if (word < bits.size()) bits[word] &= ~(uint64_t{1} << (slot % 64));
}

}  // namespace kiln::collective
