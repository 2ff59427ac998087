// File: brook/connectors/kafka/line_format_deserializer.h
//
// LineFormatDeserializer<Format>: a FileSource line format (TextLineFormat,
// JsonLinesFormat, a CSV format ...; see file_source.h) as a
// KafkaDeserializer, each message value being one line, so that a job reads
// the same records and rejects them with the same reasons from a file and
// from a topic. For each message:
//   - an empty value (a tombstone) is skipped, as a blank line is;
//   - the value must pass CheckLine (at most kMaxLineBytes, valid UTF-8:
//     "line too long: ...", "invalid UTF-8 at byte offset N");
//   - then Format::Parse(value, offset, record, reason): the offset takes the
//     place of the line number (RowSchema::WithLineNumber stores it).
// The format's header, if it has one, is never read: a format whose Parse
// needs it (CsvFormat's column positions) must be set up otherwise
// (CsvFormat::UseSchemaOrder). A line format may read up to kLinePadding
// bytes past the line (simdjson does), which a message's payload does not
// have: the value is parsed from a copy with that padding (a buffer reused
// across messages, so no allocation once warm).
//
// Event time: `timestamp_of(const Record&)` -> int64_t epoch ms, when given,
// sets the record's timestamp; without it the message's Kafka timestamp is
// kept. One deserializer per reader (KafkaSource's factory makes them): not
// thread-safe, called from that reader's subtask thread only.
#ifndef BROOK_CONNECTORS_KAFKA_LINE_FORMAT_DESERIALIZER_H_
#define BROOK_CONNECTORS_KAFKA_LINE_FORMAT_DESERIALIZER_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "brook/connectors/file_source.h"
#include "brook/connectors/kafka/kafka_source.h"
#include "brook/connectors/line_reader.h"

namespace brook::connectors {

template <typename Format, typename TimestampOf = NoTimestamp>
class LineFormatDeserializer final : public KafkaDeserializer<typename Format::Record> {
 public:
  using Record = typename Format::Record;
  using Result = typename KafkaDeserializer<Record>::Result;

  explicit LineFormatDeserializer(Format format, TimestampOf timestamp_of = {})
      : format_(std::move(format)), timestamp_of_(std::move(timestamp_of)) {}

  Result Deserialize(const KafkaMessage& message, Record& record, int64_t& timestamp_ms,
                     std::string& reason) override {
    if (message.value.empty()) return Result::kSkip;
    const size_t size = std::min(message.value.size(), kMaxLineBytes);
    padded_.assign(message.value.data(), size);
    padded_.append(kLinePadding, '\0');
    Line line;
    line.text = std::string_view(padded_.data(), size);
    line.number = message.offset;
    line.overlong = message.value.size() > kMaxLineBytes;
    line.length = static_cast<int64_t>(message.value.size());
    if (!CheckLine(line, reason) || !format_.Parse(line.text, message.offset, record, reason)) {
      return Result::kRejected;
    }
    if constexpr (!std::is_same_v<TimestampOf, NoTimestamp>) timestamp_ms = timestamp_of_(record);
    return Result::kRecord;
  }

  Format& format() { return format_; }

 private:
  Format format_;
  [[no_unique_address]] TimestampOf timestamp_of_;
  std::string padded_;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_KAFKA_LINE_FORMAT_DESERIALIZER_H_
