// File: camera_top_k/detection_schema.cc
#include "camera_top_k/detection_schema.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "brook/connectors/csv_format.h"
#include "brook/connectors/json_lines_format.h"

namespace camera {

absl::StatusOr<std::shared_ptr<DetectionSource>> OpenDetections(const std::string& path,
                                                                InputFormat format,
                                                                TimestampUnit unit) {
  format = brook::connectors::ResolveInputFormat(format, path);
  auto timestamp = [](const Event& e) { return e.detection.timestamp_detected_ms; };
  if (format == InputFormat::kJsonLines) {
    return DetectionSource::Open(path, brook::connectors::JsonLinesFormat(DetectionSchema(unit)),
                                 timestamp);
  }
  return DetectionSource::Open(path, brook::connectors::CsvFormat(DetectionSchema(unit)),
                               timestamp);
}

absl::StatusOr<std::vector<Location>> LoadLocationsCsv(const std::string& path) {
  using brook::connectors::Int64Field;
  using brook::connectors::StringField;
  auto schema = brook::connectors::MakeRowSchema<Location>(
      Int64Field("geographical_location_oid", &Location::geographical_location_oid),
      StringField("geographical_location", &Location::geographical_location,
                  {.max_bytes = kMaxLocationNameBytes}));
  std::vector<Location> locations;
  absl::flat_hash_map<int64_t, int64_t> first_line;  // oid -> line number
  BROOK_RETURN_IF_ERROR(brook::connectors::ReadCsvTable(
      path, std::move(schema), [&](Location&& location, int64_t line) {
        const auto [it, inserted] = first_line.emplace(location.geographical_location_oid, line);
        if (!inserted) {
          return absl::InvalidArgumentError(absl::StrCat("geographical_location_oid: duplicate ",
                                                         location.geographical_location_oid,
                                                         " (first on line ", it->second, ")"));
        }
        locations.push_back(std::move(location));
        return absl::OkStatus();
      }));
  return locations;
}

}  // namespace camera
