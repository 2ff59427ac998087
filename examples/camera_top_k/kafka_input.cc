#include "camera_top_k/kafka_input.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/connectors/csv_format.h"
#include "brook/connectors/json_lines_format.h"
#include "brook/connectors/kafka/kafka_source.h"
#include "brook/connectors/kafka/line_format_deserializer.h"
#include "brook/connectors/line_reader.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/detection_schema.h"
#include "camera_top_k/kafka_output.h"

namespace camera {
namespace {

absl::Status Bad(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

// A detection as a Kafka JSON value: the five field names in column order.
std::string FormatDetectionJson(const Detection& d, TimestampUnit unit) {
  std::string out;
  AppendDetectionJson(d, unit, out);  // the format camera_generate produces
  return out;
}

struct DetectionTimestamp {
  int64_t operator()(const Event& e) const { return e.detection.timestamp_detected_ms; }
};

// LineFormatDeserializer, and the partition kept in the event.
template <typename Format>
class DetectionDeserializer final : public brook::connectors::KafkaDeserializer<Event> {
 public:
  explicit DetectionDeserializer(Format format) : lines_(std::move(format)) {}

  Result Deserialize(const brook::connectors::KafkaMessage& message, Event& event,
                     int64_t& timestamp_ms, std::string& reason) override {
    const Result result = lines_.Deserialize(message, event, timestamp_ms, reason);
    event.partition = message.partition;
    return result;
  }

 private:
  brook::connectors::LineFormatDeserializer<Format, DetectionTimestamp> lines_;
};

}  // namespace

absl::StatusOr<KafkaValueFormat> ParseKafkaValueFormat(absl::string_view text) {
  if (text == "json") return KafkaValueFormat::kJson;
  if (text == "csv") return KafkaValueFormat::kCsv;
  return Bad("kafka_value_format", absl::StrCat("expected 'json' or 'csv', got '", text, "'"));
}

absl::Status ValidateKafkaInput(const KafkaInputOptions& kafka, bool has_detections_path,
                                bool generate, bool window_is_global) {
  if (!kafka.enabled()) {
    if (kafka.bounded) return Bad("kafka_bounded", "needs --detections_topic");
    return absl::OkStatus();
  }
  if (kafka.brokers.empty()) return Bad("detections_topic", "needs --kafka_brokers");
  if (has_detections_path) {
    return Bad("detections_topic", "cannot be combined with --detections (one input)");
  }
  if (generate) return Bad("detections_topic", "cannot be combined with --generate (one input)");
  if (kafka.group.empty()) return Bad("kafka_group", "must not be empty");
  brook::connectors::KafkaSourceOptions scratch;
  if (absl::Status s = brook::connectors::ParseKafkaStartingOffsets(kafka.start, &scratch);
      !s.ok()) {
    return Bad("kafka_start", s.message());
  }
  if (!kafka.bounded && window_is_global) {
    return Bad("window", "an unbounded --detections_topic needs a window (the global window "
                         "would never close), or read it with --kafka_bounded");
  }
  return absl::OkStatus();
}

std::unique_ptr<brook::connectors::KafkaDeserializer<Event>> MakeDetectionDeserializer(
    KafkaValueFormat format, TimestampUnit unit) {
  if (format == KafkaValueFormat::kJson) {
    using Json = brook::connectors::JsonLinesFormat<DetectionSchemaType>;
    return std::make_unique<DetectionDeserializer<Json>>(Json(DetectionSchema(unit)));
  }
  using Csv = brook::connectors::CsvFormat<DetectionSchemaType>;
  Csv csv(DetectionSchema(unit));
  csv.UseSchemaOrder();  // a value is one headerless line
  return std::make_unique<DetectionDeserializer<Csv>>(std::move(csv));
}

std::string KafkaDeadLetterSource(absl::string_view topic, int32_t partition) {
  return absl::StrCat("kafka:", topic, "/", partition);
}

Rejection RejectedEventLetters::operator()(const Event& event, std::string reason) const {
  if (event.partition < 0) {
    return Rejection{input_name, event.line_number, std::move(reason),
                     FormatDetectionCsv(event.detection, unit)};
  }
  return Rejection{KafkaDeadLetterSource(topic, event.partition), event.line_number,
                   std::move(reason),
                   value_format == KafkaValueFormat::kJson
                       ? FormatDetectionJson(event.detection, unit)
                       : FormatDetectionCsv(event.detection, unit)};
}

absl::StatusOr<std::shared_ptr<brook::Source<SourceRecord>>> MakeKafkaDetectionSource(
    const KafkaInputOptions& options, TimestampUnit unit) {
  brook::connectors::KafkaSourceOptions source;
  source.bootstrap_servers = options.brokers;
  source.topics = {options.topic};
  source.group_id = options.group;
  BROOK_RETURN_IF_ERROR(brook::connectors::ParseKafkaStartingOffsets(options.start, &source));
  source.bounded = options.bounded;
  source.num_processes = options.num_processes;
  source.process_index = options.process_index;
  source.properties = options.properties;
  auto kafka = brook::connectors::KafkaSource<Event>::Create(
      std::move(source),
      [format = options.value_format, unit] { return MakeDetectionDeserializer(format, unit); });
  if (!kafka.ok()) return kafka.status();
  return std::shared_ptr<brook::Source<SourceRecord>>(*std::move(kafka));
}

}  // namespace camera
