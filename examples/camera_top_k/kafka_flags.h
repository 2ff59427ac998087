// File: camera_top_k/kafka_flags.h
//
// camera_top_k's Kafka input flags (--kafka_brokers, --detections_topic,
// --kafka_value_format, --kafka_group, --kafka_start, --kafka_bounded);
// docs/camera-job.md. --kafka_brokers is declared here for every Kafka flag
// user of the job's programs.
#ifndef CAMERA_TOP_K_KAFKA_FLAGS_H_
#define CAMERA_TOP_K_KAFKA_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "camera_top_k/kafka_input.h"

ABSL_DECLARE_FLAG(std::string, kafka_brokers);

namespace camera {

// KafkaInputOptions from the flags (call after parsing): kInvalidArgument
// naming the flag for a bad --kafka_value_format (the rest is checked by
// ValidateKafkaInput).
absl::StatusOr<KafkaInputOptions> KafkaInputOptionsFromFlags();

}  // namespace camera

#endif  // CAMERA_TOP_K_KAFKA_FLAGS_H_
