#pragma once

// The metric spool: the append-only file each rank writes its metrics to,
// runs/<id>/metrics/rank-N.spool (docs/metrics-spool.md).
//
//   header   32 bytes: "KILNSPL\0", u32 version (1), u32 rank, i64 created (us), 8 zero bytes
//   records  each: u32 length, u32 crc, then `length` bytes of payload
//            length 0 ends the data (the file is preallocated with zeros);
//            crc is the low 32 bits of XXH3-64 (xxHash) of the payload
//
// Payloads start with a kind byte; integers are little-endian, strings are UTF-8 with a
// length prefix, times are microseconds since the epoch:
//   1 name    u32 id, u8 metric kind, u16 name length, name, u32 description length, text
//   2 scalar  u32 name id, i64 step, f64 value, i64 time
//   3 value   u32 name id, i64 time, u32 json length, json (list, row, table or image)
//   4 tag     i64 time, u16 key length, key, u32 value length, value
// A name record comes before the first record that uses its id.
//
// A record is valid when its length is in range and its checksum matches. A writer killed in the
// middle of a record leaves a torn record at the end; readers stop there, keeping every
// record before it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"
#include "common/time.h"
#include "store/metric_kind.h"

namespace kiln::tracking {

inline constexpr std::string_view kSpoolMagic{"KILNSPL\0", 8};
inline constexpr std::uint32_t kSpoolVersion = 1;
inline constexpr std::size_t kSpoolHeaderBytes = 32;
inline constexpr std::size_t kRecordHeaderBytes = 8;
inline constexpr std::size_t kMaxRecordBytes = 64u << 20;
inline constexpr std::size_t kMaxNameBytes = 255;
inline constexpr std::size_t kMaxDescriptionBytes = 4096;
inline constexpr std::size_t kScalarPayloadBytes = 29;

using store::MetricKind;
using store::MetricKindName;

enum class RecordKind : std::uint8_t { kName = 1, kScalar = 2, kValue = 3, kTag = 4 };

struct NameRecord {
  std::uint32_t id = 0;
  MetricKind kind = MetricKind::kScalar;
  std::string name;
  std::string description;
};
struct ScalarRecord {
  std::uint32_t name_id = 0;
  std::int64_t step = 0;
  double value = 0;
  Timestamp at = 0;
};
struct ValueRecord {
  std::uint32_t name_id = 0;
  Timestamp at = 0;
  std::string json;
};
struct TagRecord {
  Timestamp at = 0;
  std::string key;
  std::string value;
};
using Record = std::variant<NameRecord, ScalarRecord, ValueRecord, TagRecord>;

// The 32-byte file header.
std::string EncodeSpoolHeader(int rank, Timestamp created);
// The rank; DataLoss when the bytes are not a spool header of this version.
Result<int> DecodeSpoolHeader(std::string_view header);

// A whole record (length, crc, payload) appended to `out`.
void AppendRecord(const Record& record, std::string& out);
// Writes a scalar record (kRecordHeaderBytes + kScalarPayloadBytes bytes) at `out`; the hot
// path of logging, with no allocation.
void WriteScalarRecord(const ScalarRecord& record, char* out);

// Decoding one record from the start of `bytes`.
struct Decoded {
  Record record;
  std::size_t size = 0;  // bytes consumed, header included
};
enum class DecodeOutcome {
  kRecord,  // a valid record
  kEnd,     // a zero length: the end of the data
  kShort,   // `bytes` ends inside the record: more may still be written
  kTorn,    // an invalid length or CRC: the record is damaged
};
DecodeOutcome DecodeRecord(std::string_view bytes, Decoded& out);

}  // namespace kiln::tracking
