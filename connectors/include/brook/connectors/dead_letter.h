// File: brook/connectors/dead_letter.h
//
// DeadLetter: a record a connector or an operator could not accept, kept with
// where it came from and why, so that bad input is counted and routed, never
// silently lost. Any job can send its rejections (malformed lines, join
// misses, late records) to one dead-letter sink as this type.
//
// Its CSV form has the columns source,line_number,reason,raw_line.
#ifndef BROOK_CONNECTORS_DEAD_LETTER_H_
#define BROOK_CONNECTORS_DEAD_LETTER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "brook/serialization.h"
#include "brook/status.h"

namespace brook::connectors {

struct DeadLetter {
  // Where the record came from: a file path, "stdin", "kafka:TOPIC/PARTITION".
  std::string source;
  // The 1-based physical line of a file (a CSV header is line 1), or the
  // offset of a Kafka message.
  int64_t line_number = 0;
  // Why it was rejected, e.g. "item_name: empty".
  std::string reason;
  // The input as read, without its line terminator.
  std::string raw_line;

  friend bool operator==(const DeadLetter&, const DeadLetter&) = default;
};

}  // namespace brook::connectors

// Dead letters buffered by a sink are part of its checkpoint.
template <>
struct brook::TypeSerializer<brook::connectors::DeadLetter> {
  static void Serialize(const brook::connectors::DeadLetter& r, DataOutputView& out) {
    out.WriteString(r.source);
    out.WriteInt64(r.line_number);
    out.WriteString(r.reason);
    out.WriteString(r.raw_line);
  }
  static absl::Status Deserialize(DataInputView& in, brook::connectors::DeadLetter* r) {
    BROOK_RETURN_IF_ERROR(in.ReadString(&r->source));
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&r->line_number));
    BROOK_RETURN_IF_ERROR(in.ReadString(&r->reason));
    return in.ReadString(&r->raw_line);
  }
};

#endif  // BROOK_CONNECTORS_DEAD_LETTER_H_
