// camera_generate: writes synthetic Dataset A (detections) and Dataset B
// (locations) CSV files with the generator the camera job uses for
// --generate; the same --generate_* flags and seed give the same files.
//
//   camera_generate --detections_out=A.csv --locations_out=B.csv \
//       --generate_count=40000 --generate_locations=20
//
// Exit status: 0 written; 2 bad flags or a file that cannot be written.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "camera_top_k/detection_schema.h"
#include "camera_top_k/generator.h"
#include "camera_top_k/generator_flags.h"
#include "fmt/format.h"

ABSL_FLAG(std::string, detections_out, "", "Where to write Dataset A (CSV). Required.");
ABSL_FLAG(std::string, locations_out, "", "Where to write Dataset B (CSV). Required.");
ABSL_FLAG(std::string, timestamp_unit, "ms",
          "Unit of timestamp_detected in the written file: s, ms or us.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes synthetic camera detections (Dataset A) and locations (Dataset B) as CSV.");
  absl::ParseCommandLine(argc, argv);
  const std::string detections = absl::GetFlag(FLAGS_detections_out);
  const std::string locations = absl::GetFlag(FLAGS_locations_out);
  if (detections.empty() || locations.empty()) {
    fmt::print(stderr, "camera_generate: --detections_out and --locations_out are required\n");
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
  if (absl::Status s = camera::WriteDetectionsCsv(options, detections, *unit); !s.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", s.ToString());
    return 2;
  }
  const camera::DetectionGenerator generator(options);
  if (absl::Status s = camera::WriteLocationsCsv(generator.Locations(), locations); !s.ok()) {
    fmt::print(stderr, "camera_generate: {}\n", s.ToString());
    return 2;
  }
  fmt::print(stderr, "camera_generate: wrote {} ({} events) and {} ({} locations)\n",
             detections, options.count, locations, generator.Locations().size());
  return 0;
}
