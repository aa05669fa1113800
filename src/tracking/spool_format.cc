#include "tracking/spool_format.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <atomic>
#include <bit>
#include <cstring>

namespace kiln::tracking {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the spool is little-endian; a big-endian port must byte-swap here");

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
void PutAt(char*& out, T value) {
  std::memcpy(out, &value, sizeof(T));
  out += sizeof(T);
}

template <typename Length>
void PutString(std::string& out, std::string_view text) {
  Put<Length>(out, static_cast<Length>(text.size()));
  out.append(text);
}

// The record checksum: the low 32 bits of XXH3-64. It only has to catch torn and damaged
// records, and it must be cheap on 29-byte payloads (a few ns; zlib's CRC-32 costs far more
// at that size).
std::uint32_t Crc(std::string_view payload) {
  return static_cast<std::uint32_t>(XXH3_64bits(payload.data(), payload.size()));
}

// Reads fields from a payload, failing (without throwing) past its end.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : bytes_(bytes) {}

  template <typename T>
  bool Get(T& value) {
    if (bytes_.size() < sizeof(T)) return false;
    std::memcpy(&value, bytes_.data(), sizeof(T));
    bytes_.remove_prefix(sizeof(T));
    return true;
  }
  template <typename Length>
  bool GetString(std::string& text, std::size_t limit) {
    Length length = 0;
    if (!Get(length) || length > limit || bytes_.size() < length) return false;
    text.assign(bytes_.data(), length);
    bytes_.remove_prefix(length);
    return true;
  }
  bool done() const { return bytes_.empty(); }

 private:
  std::string_view bytes_;
};

std::optional<Record> DecodePayload(std::string_view payload) {
  Cursor cursor(payload);
  std::uint8_t kind = 0;
  if (!cursor.Get(kind)) return std::nullopt;
  switch (static_cast<RecordKind>(kind)) {
    case RecordKind::kName: {
      NameRecord name;
      std::uint8_t metric_kind = 0;
      if (!cursor.Get(name.id) || !cursor.Get(metric_kind) ||
          metric_kind > static_cast<std::uint8_t>(MetricKind::kImage) ||
          !cursor.GetString<std::uint16_t>(name.name, kMaxNameBytes) ||
          !cursor.GetString<std::uint32_t>(name.description, kMaxDescriptionBytes)) {
        return std::nullopt;
      }
      name.kind = static_cast<MetricKind>(metric_kind);
      if (!cursor.done()) return std::nullopt;
      return name;
    }
    case RecordKind::kScalar: {
      ScalarRecord scalar;
      if (!cursor.Get(scalar.name_id) || !cursor.Get(scalar.step) || !cursor.Get(scalar.value) ||
          !cursor.Get(scalar.at) || !cursor.done()) {
        return std::nullopt;
      }
      return scalar;
    }
    case RecordKind::kValue: {
      ValueRecord value;
      if (!cursor.Get(value.name_id) || !cursor.Get(value.at) ||
          !cursor.GetString<std::uint32_t>(value.json, kMaxRecordBytes) || !cursor.done()) {
        return std::nullopt;
      }
      return value;
    }
    case RecordKind::kTag: {
      TagRecord tag;
      if (!cursor.Get(tag.at) || !cursor.GetString<std::uint16_t>(tag.key, kMaxNameBytes) ||
          !cursor.GetString<std::uint32_t>(tag.value, kMaxRecordBytes) || !cursor.done()) {
        return std::nullopt;
      }
      return tag;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string EncodeSpoolHeader(int rank, Timestamp created) {
  std::string header(kSpoolMagic);
  Put<std::uint32_t>(header, kSpoolVersion);
  Put<std::uint32_t>(header, static_cast<std::uint32_t>(rank));
  Put<std::int64_t>(header, created);
  header.resize(kSpoolHeaderBytes, '\0');
  return header;
}

Result<int> DecodeSpoolHeader(std::string_view header) {
  if (header.size() < kSpoolHeaderBytes || header.substr(0, kSpoolMagic.size()) != kSpoolMagic) {
    return DataLossError("not a Kiln metric spool (bad magic)");
  }
  Cursor cursor(header.substr(kSpoolMagic.size()));
  std::uint32_t version = 0;
  std::uint32_t rank = 0;
  cursor.Get(version);
  cursor.Get(rank);
  if (version != kSpoolVersion) {
    return DataLossError(
        fmt::format("metric spool has version {}, this Kiln reads {}", version, kSpoolVersion));
  }
  return static_cast<int>(rank);
}

void AppendRecord(const Record& record, std::string& out) {
  std::string payload;
  if (const auto* name = std::get_if<NameRecord>(&record)) {
    Put<std::uint8_t>(payload, static_cast<std::uint8_t>(RecordKind::kName));
    Put<std::uint32_t>(payload, name->id);
    Put<std::uint8_t>(payload, static_cast<std::uint8_t>(name->kind));
    PutString<std::uint16_t>(payload, name->name);
    PutString<std::uint32_t>(payload, name->description);
  } else if (const auto* scalar = std::get_if<ScalarRecord>(&record)) {
    const std::size_t start = out.size();
    out.resize(start + kRecordHeaderBytes + kScalarPayloadBytes);
    WriteScalarRecord(*scalar, out.data() + start);
    return;
  } else if (const auto* value = std::get_if<ValueRecord>(&record)) {
    Put<std::uint8_t>(payload, static_cast<std::uint8_t>(RecordKind::kValue));
    Put<std::uint32_t>(payload, value->name_id);
    Put<std::int64_t>(payload, value->at);
    PutString<std::uint32_t>(payload, value->json);
  } else if (const auto* tag = std::get_if<TagRecord>(&record)) {
    Put<std::uint8_t>(payload, static_cast<std::uint8_t>(RecordKind::kTag));
    Put<std::int64_t>(payload, tag->at);
    PutString<std::uint16_t>(payload, tag->key);
    PutString<std::uint32_t>(payload, tag->value);
  }
  Put<std::uint32_t>(out, static_cast<std::uint32_t>(payload.size()));
  Put<std::uint32_t>(out, Crc(payload));
  out += payload;
}

void WriteScalarRecord(const ScalarRecord& record, char* out) {
  char* payload = out + kRecordHeaderBytes;
  char* cursor = payload;
  PutAt<std::uint8_t>(cursor, static_cast<std::uint8_t>(RecordKind::kScalar));
  PutAt<std::uint32_t>(cursor, record.name_id);
  PutAt<std::int64_t>(cursor, record.step);
  PutAt<double>(cursor, record.value);
  PutAt<std::int64_t>(cursor, record.at);
  const std::uint32_t crc = Crc(std::string_view(payload, kScalarPayloadBytes));
  std::memcpy(out + 4, &crc, 4);
  // The length goes last, after a fence: a writer killed mid-record leaves a zero length (the
  // end of the data), and a concurrent reader that sees the length sees the whole record.
  std::atomic_thread_fence(std::memory_order_release);
  const std::uint32_t length = kScalarPayloadBytes;
  std::memcpy(out, &length, 4);
}

DecodeOutcome DecodeRecord(std::string_view bytes, Decoded& out) {
  if (bytes.size() < kRecordHeaderBytes) {
    // A zero length may already be visible in fewer than 8 bytes at the end of a file.
    if (bytes.size() >= 4 && bytes.substr(0, 4) == std::string_view("\0\0\0\0", 4)) {
      return DecodeOutcome::kEnd;
    }
    return DecodeOutcome::kShort;
  }
  std::uint32_t length = 0;
  std::uint32_t crc = 0;
  std::memcpy(&length, bytes.data(), 4);
  std::memcpy(&crc, bytes.data() + 4, 4);
  if (length == 0) return DecodeOutcome::kEnd;
  if (length > kMaxRecordBytes) return DecodeOutcome::kTorn;
  if (bytes.size() < kRecordHeaderBytes + length) return DecodeOutcome::kShort;
  const std::string_view payload = bytes.substr(kRecordHeaderBytes, length);
  if (Crc(payload) != crc) return DecodeOutcome::kTorn;
  std::optional<Record> record = DecodePayload(payload);
  if (!record) return DecodeOutcome::kTorn;
  out.record = std::move(*record);
  out.size = kRecordHeaderBytes + length;
  return DecodeOutcome::kRecord;
}

}  // namespace kiln::tracking
