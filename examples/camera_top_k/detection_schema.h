// File: camera_top_k/detection_schema.h
//
// The camera job's input schemas on brook::connectors (file_source.h,
// csv_format.h, json_lines_format.h hold the reading, parsing and the
// generic rejection reasons).
//
// Dataset A (detections) is read by a FileSource<Event>, from a file or stdin
// ("-"), in one of two formats:
//   * CSV with a header row (line 1); required columns, found by name in any
//     order (extra columns ignored): geographical_location_oid,
//     video_camera_oid, detection_oid, item_name, timestamp_detected.
//   * JSON Lines (path ends in ".jsonl", or InputFormat::kJsonLines): one
//     object per line with the same keys; ids and timestamp_detected are JSON
//     integers, item_name a string.
// Fields are checked in the order of the columns above. The reasons a line is
// rejected (`X` a column, "..." its text, truncated and escaped):
//   invalid UTF-8 at byte offset N           (0-based, within the raw line)
//   line too long: N bytes exceeds 1048576   (raw_line keeps the first
//                                             1048576 bytes)
//   wrong field count: expected H, got N     (H = the header's field count)
//   malformed CSV quoting at byte offset N
//   unterminated quoted field (quoted fields cannot span lines)
//   X: not an integer: "..."                 (also an empty field)
//   X: integer overflow: "..."
//   item_name: empty
//   item_name: N bytes exceeds 5000
//   timestamp_detected: overflows int64 milliseconds
//   invalid JSON: <simdjson's message>       (JSONL; also a non-object line)
//   missing field: X                         (JSONL)
//   X: expected integer, got string          (JSONL; or bool, null, ...)
//   X: expected integer, got floating-point number   (JSONL; 1.5, 1e3)
//   item_name: expected string, got integer  (JSONL)
// Integers are strict decimal int64 (negative ids and leading zeros are
// accepted). timestamp_detected is converted to epoch milliseconds by
// brook::connectors::ToEpochMillis (timestamp_unit.h): seconds * 1000 (a
// rejection when that overflows), milliseconds as is, microseconds / 1000
// rounded toward negative infinity.
//
// Dataset B (locations) is loaded whole by LoadLocationsCsv; there a bad row
// is an error, because a small static table is fixed, not dead-lettered.
#ifndef CAMERA_TOP_K_DETECTION_SCHEMA_H_
#define CAMERA_TOP_K_DETECTION_SCHEMA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/connectors/file_source.h"
#include "brook/connectors/input_format.h"
#include "brook/connectors/row_schema.h"
#include "camera_top_k/detection.h"

namespace camera {

// --input_format: "auto" (by extension), "csv" or "jsonl".
using brook::connectors::InputFormat;
using brook::connectors::ParseInputFormat;

// Dataset A's schema, timestamps read in `unit`; records keep their line.
inline auto DetectionSchema(TimestampUnit unit) {
  using brook::connectors::Int64Field;
  using brook::connectors::StringField;
  return brook::connectors::MakeRowSchema<Event>(
             Int64Field<Event>(
                 "geographical_location_oid",
                 [](Event& e, int64_t v) { e.detection.geographical_location_oid = v; }),
             Int64Field<Event>("video_camera_oid",
                               [](Event& e, int64_t v) { e.detection.video_camera_oid = v; }),
             Int64Field<Event>("detection_oid",
                               [](Event& e, int64_t v) { e.detection.detection_oid = v; }),
             // An empty item_name is no item: counting it would put "" in a top-k.
             StringField<Event>(
                 "item_name", [](Event& e, std::string_view v) { e.detection.item_name.assign(v); },
                 {.allow_empty = false, .max_bytes = kMaxItemNameBytes}),
             Int64Field<Event>("timestamp_detected",
                               [unit](Event& e, int64_t v, std::string& reason) {
                                 if (brook::connectors::ToEpochMillis(
                                         v, unit, e.detection.timestamp_detected_ms)) {
                                   return true;
                                 }
                                 reason = "timestamp_detected: overflows int64 milliseconds";
                                 return false;
                               }))
      .WithLineNumber(&Event::line_number);
}
using DetectionSchemaType = decltype(DetectionSchema(TimestampUnit::kMilliseconds));

using DetectionSource = brook::connectors::FileSource<Event>;

// Opens Dataset A at `path` ("-": stdin) as a source stamped with
// timestamp_detected; a missing file or a bad CSV header fails here (codes as
// brook::connectors::FileSource::Open).
absl::StatusOr<std::shared_ptr<DetectionSource>> OpenDetections(const std::string& path,
                                                                InputFormat format,
                                                                TimestampUnit unit);

// Loads Dataset B: CSV with a header that has geographical_location_oid and
// geographical_location (any order, extra columns ignored), rows in file
// order. Blank lines are skipped. Errors: kNotFound for a missing file, the
// errno's code for an unreadable one, kInvalidArgument naming the file, line
// and field for an empty file, a missing column, or any bad row (wrong field
// count, invalid UTF-8, bad integer, geographical_location over
// kMaxLocationNameBytes, a duplicate geographical_location_oid).
absl::StatusOr<std::vector<Location>> LoadLocationsCsv(const std::string& path);

}  // namespace camera

#endif  // CAMERA_TOP_K_DETECTION_SCHEMA_H_
