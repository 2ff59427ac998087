// File: camera_top_k/kafka_property_flags.h
//
// librdkafka properties for every Kafka client a camera program makes
// (security.protocol, ssl.*, sasl.* ...): --kafka_property=KEY=VALUE
// (repeatable) and --kafka_property_file=FILE (KEY=VALUE lines, '#'
// comments: the place for secrets, which `ps` would show in a flag). See
// docs/operations.md, "Kafka security properties".
#ifndef CAMERA_TOP_K_KAFKA_PROPERTY_FLAGS_H_
#define CAMERA_TOP_K_KAFKA_PROPERTY_FLAGS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace camera {

// The properties of --kafka_property_file, then of --kafka_property (a later
// one wins), each checked by librdkafka (brook::connectors::
// CheckKafkaProperties): kInvalidArgument naming the flags and the property
// (its value hidden where the key looks secret), or the file and line.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> KafkaPropertiesFromFlags();

}  // namespace camera

#endif  // CAMERA_TOP_K_KAFKA_PROPERTY_FLAGS_H_
