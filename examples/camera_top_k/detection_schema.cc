// File: camera_top_k/detection_schema.cc
#include "camera_top_k/detection_schema.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "brook/connectors/csv_format.h"
#include "brook/connectors/json_lines_format.h"

namespace camera {

using brook::connectors::QuoteForReason;

absl::StatusOr<InputFormat> ParseInputFormat(std::string_view text) {
  if (text == "auto") return InputFormat::kAuto;
  if (text == "csv") return InputFormat::kCsv;
  if (text == "jsonl") return InputFormat::kJsonLines;
  return absl::InvalidArgumentError(
      absl::StrCat("input format ", QuoteForReason(text), ": expected auto, csv or jsonl"));
}

absl::StatusOr<TimestampUnit> ParseTimestampUnit(std::string_view text) {
  if (text == "s") return TimestampUnit::kSeconds;
  if (text == "ms") return TimestampUnit::kMilliseconds;
  if (text == "us") return TimestampUnit::kMicroseconds;
  return absl::InvalidArgumentError(
      absl::StrCat("timestamp unit ", QuoteForReason(text), ": expected s, ms or us"));
}

bool TimestampToMillis(int64_t value, TimestampUnit unit, int64_t& millis) {
  switch (unit) {
    case TimestampUnit::kSeconds:
      return !__builtin_mul_overflow(value, int64_t{1000}, &millis);
    case TimestampUnit::kMilliseconds:
      millis = value;
      return true;
    case TimestampUnit::kMicroseconds:
      // C++ division truncates toward zero; event time wants the floor.
      millis = value / 1000 - (value % 1000 < 0 ? 1 : 0);
      return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<DetectionSource>> OpenDetections(const std::string& path,
                                                                InputFormat format,
                                                                TimestampUnit unit) {
  if (format == InputFormat::kAuto) {
    format = path.ends_with(".jsonl") ? InputFormat::kJsonLines : InputFormat::kCsv;
  }
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
