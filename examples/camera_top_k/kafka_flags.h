// File: camera_top_k/kafka_flags.h
//
// camera_top_k's Kafka input flags (--detections_topic, --kafka_value_format,
// --kafka_group, --kafka_start, --kafka_bounded; the properties of
// kafka_property_flags.h); docs/camera-job.md.
// --kafka_brokers, shared with the Kafka output, is defined by the program.
#ifndef CAMERA_TOP_K_KAFKA_FLAGS_H_
#define CAMERA_TOP_K_KAFKA_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "camera_top_k/kafka_input.h"

namespace camera {

// KafkaInputOptions but `brokers` from the flags (call after parsing): kInvalidArgument
// naming the flag for a bad --kafka_value_format (the rest is checked by
// ValidateKafkaInput); KafkaPropertiesFromFlags()'s errors.
absl::StatusOr<KafkaInputOptions> KafkaInputOptionsFromFlags();

}  // namespace camera

#endif  // CAMERA_TOP_K_KAFKA_FLAGS_H_
