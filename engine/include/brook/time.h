// File: brook/time.h
//
// Event time in brook is an int64_t count of milliseconds since the Unix epoch
// (names end in `_ms`); durations in the API are absl::Duration.
#ifndef BROOK_TIME_H_
#define BROOK_TIME_H_

#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace brook {

// The smallest representable timestamp; also the watermark before any event.
inline constexpr int64_t kMinTimestampMs = std::numeric_limits<int64_t>::min();
// The watermark that ends event time: emitted at the end of a bounded input,
// it fires every pending event-time timer and window (as Flink's
// Watermark.MAX_WATERMARK).
inline constexpr int64_t kMaxWatermarkMs = std::numeric_limits<int64_t>::max();

// Whole milliseconds in `d`, truncated toward zero; saturates at the int64
// range (absl::InfiniteDuration() gives INT64_MAX).
inline int64_t ToMillis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// a + b, clamped to [kMinTimestampMs, kMaxWatermarkMs] instead of overflowing.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? kMaxWatermarkMs : kMinTimestampMs;
  }
  return r;
}

// Which clock a timer belongs to (as Flink's TimeDomain).
enum class TimeDomain { kEventTime, kProcessingTime };

}  // namespace brook

#endif  // BROOK_TIME_H_
