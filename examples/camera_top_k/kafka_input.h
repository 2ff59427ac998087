// File: camera_top_k/kafka_input.h
//
// The camera job's Dataset A from a Kafka topic (docs/camera-job.md, "Kafka
// input"): a brook::connectors KafkaSource of SourceRecord whose
// deserializer parses each message value with the file formats' own parsers
// (JsonLinesFormat or CsvFormat over DetectionSchema), so a value is rejected
// for exactly the reasons a line of a file is (detection_schema.h).
//
//   --kafka_value_format=json  one JSON object with Dataset A's five field
//                              names (as a .jsonl line)
//   --kafka_value_format=csv   one CSV line in Dataset A's column order
//                              (geographical_location_oid, video_camera_oid,
//                              detection_oid, item_name, timestamp_detected),
//                              no header
//
// The key is not used. An empty value (or a tombstone) is skipped, as a
// blank line of a file is. Every rejection of a Kafka record (malformed,
// unknown location, late) is a dead letter with source
// "kafka:TOPIC/PARTITION" and the offset as line_number; a malformed one
// keeps the message value as raw_line, one rejected after parsing (its text
// no longer at hand) has it re-serialised from the parsed fields in the
// value format (json: {"geographical_location_oid":..,...} in column order).
//
// Partitions are assigned statically to the source's subtasks (the job's
// --parallelism); offsets are part of the job's checkpoints, so a
// checkpointed job resumes from them after a crash (exactly once).
#ifndef CAMERA_TOP_K_KAFKA_INPUT_H_
#define CAMERA_TOP_K_KAFKA_INPUT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "brook/connectors/kafka/kafka_source.h"
#include "brook/source.h"
#include "camera_top_k/detection.h"

namespace camera {

enum class KafkaValueFormat { kJson, kCsv };

// --kafka_value_format: "json" or "csv"; kInvalidArgument otherwise.
absl::StatusOr<KafkaValueFormat> ParseKafkaValueFormat(absl::string_view text);

struct KafkaInputOptions {
  std::string brokers;  // --kafka_brokers: "HOST:PORT[,HOST:PORT...]"
  std::string topic;    // --detections_topic; empty = not reading Kafka
  KafkaValueFormat value_format = KafkaValueFormat::kJson;
  std::string group = "camera-top-k";  // --kafka_group: offsets committed for lag monitoring
  // Where a partition without checkpointed offset starts (--kafka_start):
  // "earliest", "latest", "committed" (earliest where the group has none)
  // or an epoch-ms timestamp (brook::connectors::ParseKafkaStartingOffsets).
  std::string start = "earliest";
  // Read up to the end offsets at start, then end as a file input does.
  bool bounded = false;
  // Scale-out (camera_top_k/scale_out.h): this process reads only the
  // partitions its subtasks own among num_processes x parallelism.
  int num_processes = 1;
  int process_index = 0;
  // librdkafka properties for every Kafka client of the job (the source and
  // the result sink): security.protocol, ssl.*, sasl.* ... in order, a
  // later one winning (--kafka_property_file, then --kafka_property).
  std::vector<std::pair<std::string, std::string>> properties;

  bool enabled() const { return !topic.empty(); }
};

// Checks the Kafka options against the rest of the input choice:
// kInvalidArgument naming the flag (--detections_topic without
// --kafka_brokers, or with --detections or --generate; --kafka_bounded
// without --detections_topic; an unbounded topic with the global window; a
// bad --kafka_start).
// `window_is_global`: --window is zero.
absl::Status ValidateKafkaInput(const KafkaInputOptions& kafka, bool has_detections_path,
                                bool generate, bool window_is_global);

// The source's deserializer: each message value parsed by the file formats'
// parsers (brook::connectors::LineFormatDeserializer over JsonLinesFormat or
// a headerless CsvFormat of DetectionSchema), so a value is rejected for the
// reasons a line of a file is. A record gets the offset as line_number, the
// partition, and timestamp_detected as its event time; an empty value is
// skipped. One per source reader (it reuses its buffers); not thread-safe.
std::unique_ptr<brook::connectors::KafkaDeserializer<Event>> MakeDetectionDeserializer(
    KafkaValueFormat format, TimestampUnit unit);

// "kafka:TOPIC/PARTITION": DeadLetter::source of a Kafka record.
std::string KafkaDeadLetterSource(absl::string_view topic, int32_t partition);

// The dead letter of an event rejected after parsing (unknown location,
// late): for a Kafka record (partition >= 0) source "kafka:TOPIC/PARTITION",
// line_number its offset and raw_line re-serialised in the value format; for
// any other input `input_name`, its line and raw_line as a CSV row.
struct RejectedEventLetters {
  std::string input_name;  // the file's path, "stdin", "generator", "memory"
  std::string topic;       // the Kafka topic, when reading one
  KafkaValueFormat value_format = KafkaValueFormat::kJson;
  TimestampUnit unit = TimestampUnit::kMilliseconds;

  Rejection operator()(const Event& event, std::string reason) const;
};

// The detections topic as a source (parallelism: the job's, each subtask
// reading its partitions). kInvalidArgument for options librdkafka rejects.
absl::StatusOr<std::shared_ptr<brook::Source<SourceRecord>>> MakeKafkaDetectionSource(
    const KafkaInputOptions& options, TimestampUnit unit);

}  // namespace camera

#endif  // CAMERA_TOP_K_KAFKA_INPUT_H_
