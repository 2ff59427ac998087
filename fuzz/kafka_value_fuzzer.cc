// Fuzz target: Kafka message values through
// brook::connectors::LineFormatDeserializer, as the camera job's Kafka input
// reads them: headerless CSV in schema order (CsvFormat::UseSchemaOrder) and
// JSON Lines, one record per message. The input is split into messages at
// each '\n' (a message may hold any other byte, '\r' and NUL included), so
// that one input exercises the formats' buffer reuse across messages.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "brook/connectors/csv_format.h"
#include "brook/connectors/json_lines_format.h"
#include "brook/connectors/kafka/kafka_source.h"
#include "brook/connectors/kafka/line_format_deserializer.h"
#include "camera_top_k/detection_schema.h"

namespace {

using Csv = brook::connectors::CsvFormat<camera::DetectionSchemaType>;
using Jsonl = brook::connectors::JsonLinesFormat<camera::DetectionSchemaType>;
using Result = brook::connectors::KafkaDeserializer<camera::Event>::Result;

template <typename Deserializer>
void Check(Deserializer& d, const brook::connectors::KafkaMessage& m, camera::Event& event) {
  std::string reason;
  int64_t timestamp_ms = m.timestamp_ms;
  const Result r = d.Deserialize(m, event, timestamp_ms, reason);
  if (r == Result::kRejected && reason.empty()) std::abort();
  if (r == Result::kSkip && !m.value.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto schema = camera::DetectionSchema(camera::TimestampUnit::kMilliseconds);
  Csv csv_format(schema);
  csv_format.UseSchemaOrder();
  brook::connectors::LineFormatDeserializer<Csv> csv(std::move(csv_format));
  brook::connectors::LineFormatDeserializer<Jsonl> jsonl{Jsonl(schema)};
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  brook::connectors::KafkaMessage message;
  message.topic = "fuzz";
  camera::Event event;
  for (int64_t offset = 0;; ++offset) {
    const size_t end = rest.find('\n');
    message.value = rest.substr(0, end);
    message.offset = offset;
    Check(csv, message, event);
    Check(jsonl, message, event);
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return 0;
}
