#include "collective/message.h"

#include <cstring>
#include <type_traits>

namespace kiln::collective {
namespace {

class Writer {
 public:
  template <typename T>
  void Put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* bytes = reinterpret_cast<const char*>(&value);
    out_.append(bytes, sizeof(T));
  }
  void PutString(std::string_view text) {
    Put<uint32_t>(static_cast<uint32_t>(text.size()));
    out_.append(text);
  }
  template <typename T>
  void PutVector(const std::vector<T>& values) {
    Put<uint32_t>(static_cast<uint32_t>(values.size()));
    for (const T& value : values) Put<T>(value);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  template <typename T>
  bool Get(T& value) {
    if (bytes_.size() < sizeof(T)) return Fail();
    std::memcpy(&value, bytes_.data(), sizeof(T));
    bytes_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString(std::string& text) {
    uint32_t size = 0;
    if (!Get(size) || bytes_.size() < size) return Fail();
    text.assign(bytes_.substr(0, size));
    bytes_.remove_prefix(size);
    return true;
  }
  template <typename T>
  bool GetVector(std::vector<T>& values) {
    uint32_t size = 0;
    if (!Get(size) || bytes_.size() / sizeof(T) < size) return Fail();
    values.resize(size);
    for (T& value : values) Get(value);
    return true;
  }
  template <typename Enum>
  bool GetEnum(Enum& value, bool (*valid)(uint8_t)) {
    uint8_t raw = 0;
    if (!Get(raw) || !valid(raw)) return Fail();
    value = static_cast<Enum>(raw);
    return true;
  }
  bool done() const { return ok_ && bytes_.empty(); }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  std::string_view bytes_;
  bool ok_ = true;
};

bool ValidOpType(uint8_t value) { return value <= static_cast<uint8_t>(OpType::kJoin); }
bool ValidKind(uint8_t value) { return value <= 1; }
bool ValidBool(uint8_t value) { return value <= 1; }

Status Corrupt(std::string_view what) {
  return DataLossError("collective: a corrupt " + std::string(what) +
                       " arrived from another rank (a rank of another version, or something "
                       "else connected to the rendezvous port)");
}

}  // namespace

std::string_view OpTypeName(OpType op) {
  switch (op) {
    case OpType::kAllreduce:
      return "allreduce";
    case OpType::kAllgather:
      return "allgather";
    case OpType::kBroadcast:
      return "broadcast";
    case OpType::kAlltoall:
      return "alltoall";
    case OpType::kReducescatter:
      return "reducescatter";
    case OpType::kBarrier:
      return "barrier";
    case OpType::kJoin:
      return "join";
  }
  return "unknown";
}

int64_t Request::NumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

bool Request::SameSignature(const Request& other) const {
  return name == other.name && process_set == other.process_set && op == other.op &&
         dtype == other.dtype && reduce_op == other.reduce_op && root == other.root &&
         prescale == other.prescale && postscale == other.postscale && shape == other.shape &&
         splits == other.splits;
}

std::string EncodeRequestList(const RequestList& list) {
  Writer w;
  w.Put<uint8_t>(list.shutdown ? 1 : 0);
  w.PutVector(list.cached);
  w.Put<uint32_t>(static_cast<uint32_t>(list.requests.size()));
  for (const Request& r : list.requests) {
    w.PutString(r.name);
    w.Put<int32_t>(r.process_set);
    w.Put<uint8_t>(static_cast<uint8_t>(r.op));
    w.Put<uint8_t>(static_cast<uint8_t>(r.dtype));
    w.Put<uint8_t>(static_cast<uint8_t>(r.reduce_op));
    w.Put<int32_t>(r.root);
    w.PutVector(r.shape);
    w.Put<double>(r.prescale);
    w.Put<double>(r.postscale);
    w.PutVector(r.splits);
  }
  return w.Take();
}

Result<RequestList> DecodeRequestList(std::string_view bytes) {
  Reader r(bytes);
  RequestList list;
  uint8_t shutdown = 0;
  uint32_t count = 0;
  r.Get(shutdown);
  r.GetVector(list.cached);
  r.Get(count);
  for (uint32_t i = 0; i < count && count <= bytes.size(); ++i) {
    Request q;
    r.GetString(q.name);
    r.Get(q.process_set);
    r.GetEnum(q.op, ValidOpType);
    r.GetEnum(q.dtype, IsValidDataType);
    r.GetEnum(q.reduce_op, IsValidReduceOp);
    r.Get(q.root);
    r.GetVector(q.shape);
    r.Get(q.prescale);
    r.Get(q.postscale);
    if (!r.GetVector(q.splits)) break;
    list.requests.push_back(std::move(q));
  }
  if (!r.done() || !ValidBool(shutdown) || list.requests.size() != count) {
    return Corrupt("request list");
  }
  list.shutdown = shutdown != 0;
  return list;
}

std::string EncodeResponseList(const ResponseList& list) {
  Writer w;
  w.Put<uint8_t>(list.shutdown ? 1 : 0);
  w.Put<uint32_t>(static_cast<uint32_t>(list.responses.size()));
  for (const Response& r : list.responses) {
    w.Put<uint8_t>(static_cast<uint8_t>(r.kind));
    w.Put<int32_t>(r.process_set);
    w.Put<uint8_t>(static_cast<uint8_t>(r.op));
    w.Put<uint8_t>(static_cast<uint8_t>(r.dtype));
    w.Put<uint8_t>(static_cast<uint8_t>(r.reduce_op));
    w.Put<int32_t>(r.root);
    w.Put<double>(r.prescale);
    w.Put<double>(r.postscale);
    w.PutVector(r.cache_slots);
    for (const std::string& name : r.names) w.PutString(name);
    w.PutVector(r.element_counts);
    w.PutVector(r.sizes);
    w.Put<int32_t>(r.last_joined_rank);
    w.PutString(r.error);
  }
  return w.Take();
}

Result<ResponseList> DecodeResponseList(std::string_view bytes) {
  Reader r(bytes);
  ResponseList list;
  uint8_t shutdown = 0;
  uint32_t count = 0;
  r.Get(shutdown);
  r.Get(count);
  for (uint32_t i = 0; i < count && count <= bytes.size(); ++i) {
    Response p;
    r.GetEnum(p.kind, ValidKind);
    r.Get(p.process_set);
    r.GetEnum(p.op, ValidOpType);
    r.GetEnum(p.dtype, IsValidDataType);
    r.GetEnum(p.reduce_op, IsValidReduceOp);
    r.Get(p.root);
    r.Get(p.prescale);
    r.Get(p.postscale);
    r.GetVector(p.cache_slots);
    p.names.resize(p.cache_slots.size());
    for (std::string& name : p.names) r.GetString(name);
    r.GetVector(p.element_counts);
    r.GetVector(p.sizes);
    r.Get(p.last_joined_rank);
    if (!r.GetString(p.error)) break;
    list.responses.push_back(std::move(p));
  }
  if (!r.done() || !ValidBool(shutdown) || list.responses.size() != count) {
    return Corrupt("response list");
  }
  list.shutdown = shutdown != 0;
  return list;
}

}  // namespace kiln::collective
