// File: camera_top_k/detection.h
//
// The camera job's record types: Dataset A (detections, a stream) and
// Dataset B (locations, a static table). Plain structs so that they flow
// through brook by value.
#ifndef CAMERA_TOP_K_DETECTION_H_
#define CAMERA_TOP_K_DETECTION_H_

#include <cstdint>
#include <string>
#include <variant>

#include "brook/connectors/dead_letter.h"
#include "brook/connectors/timestamp_unit.h"

namespace camera {

// Longest accepted item_name, in bytes (Dataset A's schema).
inline constexpr size_t kMaxItemNameBytes = 5000;
// Longest accepted geographical_location, in bytes (Dataset B's schema).
inline constexpr size_t kMaxLocationNameBytes = 500;

// One row of Dataset A. `timestamp_detected_ms` is always epoch milliseconds,
// whatever unit the input used (see TimestampUnit).
struct Detection {
  int64_t geographical_location_oid = 0;
  int64_t video_camera_oid = 0;
  int64_t detection_oid = 0;
  std::string item_name;
  int64_t timestamp_detected_ms = 0;

  friend bool operator==(const Detection&, const Detection&) = default;
};

// One row of Dataset B.
struct Location {
  int64_t geographical_location_oid = 0;
  std::string geographical_location;

  friend bool operator==(const Location&, const Location&) = default;
};

// A detection on its way through the job, with where it came from.
struct Event {
  Detection detection;
  int64_t line_number = 0;  // 1-based input line (Kafka: the offset); 0 when generated
  int32_t partition = -1;   // Kafka partition it was read from; -1 for other inputs
};

// Why a record was not accepted; what a dead-letter file holds.
using Rejection = brook::connectors::DeadLetter;

// What a detection source emits: an accepted detection or a malformed line.
using SourceRecord = std::variant<Event, Rejection>;

// The unit of `timestamp_detected` in the input (--timestamp_unit).
using TimestampUnit = brook::connectors::TimestampUnit;

}  // namespace camera

#endif  // CAMERA_TOP_K_DETECTION_H_
