// camera_generate: writes synthetic Dataset A (detections) and Dataset B
// (locations) CSV files with the generator the camera job uses for
// --generate; the same --generate_* flags and seed give the same files.
//
//   camera_generate --detections_out=A.csv --locations_out=B.csv \
//       --generate_count=40000 --generate_locations=20
//
// With --topic the detections go to that Kafka topic instead (or also, with
// --detections_out), as JSON keyed by detection_oid, at --generate_rate
// events/s (0: as fast as possible; --generate_count=0: forever):
//
//   camera_generate --kafka_brokers=127.0.0.1:9092 --topic=detections \
//       --locations_out=B.csv --generate_rate=10000 --generate_count=0
//
// Exit status: 0 written; 1 the topic could not take the events; 2 bad flags or a
// file that cannot be written.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "camera_top_k/detection_schema.h"
#include "camera_top_k/generator.h"
#include "camera_top_k/generator_flags.h"
#include "camera_top_k/kafka_output.h"
#include "camera_top_k/kafka_property_flags.h"
#include "fmt/format.h"

ABSL_FLAG(std::string, detections_out, "",
          "Where to write Dataset A (CSV). Required unless --topic.");
ABSL_FLAG(std::string, locations_out, "",
          "Where to write Dataset B (CSV). Required unless --topic.");
ABSL_FLAG(std::string, kafka_brokers, "", "Kafka bootstrap servers: HOST:PORT[,HOST:PORT...].");
ABSL_FLAG(std::string, topic, "",
          "Also produce Dataset A to this Kafka topic (JSON values with Dataset A's field "
          "names, keyed by detection_oid) at --generate_rate events/s; needs --kafka_brokers.");
ABSL_FLAG(std::string, timestamp_unit, "ms",
          "Unit of timestamp_detected in the written file: s, ms or us.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes synthetic camera detections (Dataset A) and locations (Dataset B) as CSV.");
  absl::ParseCommandLine(argc, argv);
  const std::string detections = absl::GetFlag(FLAGS_detections_out);
  const std::string locations = absl::GetFlag(FLAGS_locations_out);
  const std::string topic = absl::GetFlag(FLAGS_topic);
  if (topic.empty() && (detections.empty() || locations.empty())) {
    fmt::print(stderr, "camera_generate: --detections_out and --locations_out are required\n");
    return 2;
  }
  if (!topic.empty() && absl::GetFlag(FLAGS_kafka_brokers).empty()) {
    fmt::print(stderr, "camera_generate: --topic needs --kafka_brokers\n");
    return 2;
  }
  auto unit = brook::connectors::ParseTimestampUnit(absl::GetFlag(FLAGS_timestamp_unit));
  if (!unit.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", unit.status().ToString());
    return 2;
  }
  const camera::GeneratorOptions options = camera::GeneratorOptionsFromFlags();
  if (absl::Status s = camera::ValidateGeneratorOptions(options); !s.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", s.ToString());
    return 2;
  }
  const camera::DetectionGenerator generator(options);
  // The locations first: a job reading the topic needs them to start.
  if (absl::Status s = locations.empty()
                           ? absl::OkStatus()
                           : camera::WriteLocationsCsv(generator.Locations(), locations);
      !s.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", s.ToString());
    return 2;
  }
  if (absl::Status s = detections.empty()
                           ? absl::OkStatus()
                           : camera::WriteDetectionsCsv(options, detections, *unit);
      !s.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", s.ToString());
    return 2;
  }
  auto kafka_properties = camera::KafkaPropertiesFromFlags();  // --kafka_property*
  if (!kafka_properties.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", std::string(kafka_properties.status().message()));
    return 2;
  }
  if (!topic.empty()) {
    auto produced = camera::ProduceDetections(options, absl::GetFlag(FLAGS_generate_rate), *unit,
                                              absl::GetFlag(FLAGS_kafka_brokers), topic,
                                              *kafka_properties);
    if (!produced.ok()) {
      fmt::print(stderr, "camera_generate: --topic={}: {}\n", topic, produced.status().ToString());
      return 1;
    }
    fmt::print(stderr, "camera_generate: produced {} events to topic {}\n", *produced, topic);
  }
  if (detections.empty()) return 0;
  fmt::print(stderr, "camera_generate: wrote {} ({} events) and {} ({} locations)\n",
             detections, options.count, locations, generator.Locations().size());
  return 0;
}
