#pragma once

// The response cache: a tensor negotiated once gets a slot number, the same on every rank
// (the coordinator picks it and every rank learns it from the response). When a rank asks
// for that tensor again with the same signature it sends only the slot's bit, so a
// training step whose gradients were all seen before negotiates with one small bitset per
// rank, which the coordinator compares across ranks (coordinator.h, step 4).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "collective/message.h"

namespace kiln::collective {

class ResponseCache {
 public:
  explicit ResponseCache(size_t capacity) : capacity_(capacity) {}

  size_t capacity() const { return capacity_; }
  size_t size() const { return slots_.size(); }

  // The slot of `request` when its name is cached with the same signature.
  std::optional<int32_t> Find(const Request& request) const;
  // The slot of a name in a process set, whatever its signature.
  std::optional<int32_t> FindName(int32_t process_set, const std::string& name) const;

  // The coordinator: a slot for a newly agreed request (its own when the name had one),
  // or nothing when the cache is full.
  std::optional<int32_t> Assign(const Request& request);

  // Every rank: the coordinator put `name` of `process_set` in `slot`; `signature` is this
  // rank's request (absent on a rank that joined, or is not in the set, and did not submit it).
  void Put(int32_t slot, int32_t process_set, const std::string& name,
           const std::optional<Request>& signature);

  const std::string& Name(int32_t slot) const { return slots_.at(slot).name; }
  const std::optional<Request>& Signature(int32_t slot) const { return slots_.at(slot).signature; }
  bool Has(int32_t slot) const { return slots_.count(slot) != 0; }

 private:
  struct Entry {
    int32_t process_set = 0;
    std::string name;
    std::optional<Request> signature;
  };
  size_t capacity_;
  std::unordered_map<int32_t, Entry> slots_;
  std::map<std::pair<int32_t, std::string>, int32_t> by_name_;  // names are unique per set
};

// Bitsets over cache slots, 64 to a word.
void SetBit(std::vector<uint64_t>& bits, int32_t slot);
bool TestBit(const std::vector<uint64_t>& bits, int32_t slot);
void ClearBit(std::vector<uint64_t>& bits, int32_t slot);

}  // namespace kiln::collective
