// File: brook/connectors/timestamp_unit.h
//
// TimestampUnit: the unit of an integer epoch timestamp in a file's field
// (seconds, milliseconds, microseconds), and its conversion to and from the
// epoch milliseconds brook's event time uses (brook/time.h).
//
//   seconds       -> ms: * 1000, an error when that overflows int64
//   milliseconds  -> ms: as is
//   microseconds  -> ms: / 1000 rounded toward negative infinity (event time
//                        wants the floor; the sub-millisecond part is lost)
// FromEpochMillis inverts it (exactly for s and ms; * 1000 for us, so a
// value read as us comes back without its sub-millisecond part).
#ifndef BROOK_CONNECTORS_TIMESTAMP_UNIT_H_
#define BROOK_CONNECTORS_TIMESTAMP_UNIT_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace brook::connectors {

enum class TimestampUnit { kSeconds, kMilliseconds, kMicroseconds };

// Parses "s", "ms", "us". kInvalidArgument otherwise, quoting `text`.
absl::StatusOr<TimestampUnit> ParseTimestampUnit(std::string_view text);

// `value` in `unit` as epoch milliseconds in `millis`. False (`millis`
// unspecified) when the result does not fit in int64.
bool ToEpochMillis(int64_t value, TimestampUnit unit, int64_t& millis);

// Epoch milliseconds `millis` in `unit` (seconds: `millis` / 1000, exact for
// a value that came from seconds).
int64_t FromEpochMillis(int64_t millis, TimestampUnit unit);

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_TIMESTAMP_UNIT_H_
