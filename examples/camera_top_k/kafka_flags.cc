#include "camera_top_k/kafka_flags.h"

#include "absl/flags/flag.h"
#include "brook/status.h"
#include "camera_top_k/kafka_property_flags.h"

ABSL_FLAG(std::string, detections_topic, "",
          "Read Dataset A from this Kafka topic instead of --detections: one detection per "
          "message value (see --kafka_value_format); the key is not used. Needs "
          "--kafka_brokers.");
ABSL_FLAG(std::string, kafka_value_format, "json",
          "Message value of --detections_topic: json (an object with Dataset A's five field "
          "names) or csv (one line in Dataset A's column order, no header).");
ABSL_FLAG(std::string, kafka_group, "camera-top-k",
          "Consumer group id: offsets are committed under it on each completed checkpoint, "
          "for lag monitoring (positions live in the checkpoints).");
ABSL_FLAG(std::string, kafka_start, "earliest",
          "Where a partition is read from when no checkpoint has it: earliest, latest, "
          "committed (the group's offsets; earliest where none) or an epoch-ms timestamp.");
ABSL_FLAG(bool, kafka_bounded, false,
          "Read --detections_topic up to the end offsets found at start, then end as a file "
          "input does.");

namespace camera {

absl::StatusOr<KafkaInputOptions> KafkaInputOptionsFromFlags() {
  KafkaInputOptions k;
  k.topic = absl::GetFlag(FLAGS_detections_topic);
  auto format = ParseKafkaValueFormat(absl::GetFlag(FLAGS_kafka_value_format));
  if (!format.ok()) return format.status();
  k.value_format = *format;
  k.group = absl::GetFlag(FLAGS_kafka_group);
  k.start = absl::GetFlag(FLAGS_kafka_start);
  k.bounded = absl::GetFlag(FLAGS_kafka_bounded);
  BROOK_ASSIGN_OR_RETURN(k.properties, KafkaPropertiesFromFlags());
  return k;
}

}  // namespace camera
