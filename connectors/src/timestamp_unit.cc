#include "brook/connectors/timestamp_unit.h"

#include "absl/strings/str_cat.h"
#include "brook/connectors/row_schema.h"

namespace brook::connectors {

absl::StatusOr<TimestampUnit> ParseTimestampUnit(std::string_view text) {
  if (text == "s") return TimestampUnit::kSeconds;
  if (text == "ms") return TimestampUnit::kMilliseconds;
  if (text == "us") return TimestampUnit::kMicroseconds;
  return absl::InvalidArgumentError(
      absl::StrCat("timestamp unit ", QuoteForReason(text), ": expected s, ms or us"));
}

bool ToEpochMillis(int64_t value, TimestampUnit unit, int64_t& millis) {
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

int64_t FromEpochMillis(int64_t millis, TimestampUnit unit) {
  switch (unit) {
    case TimestampUnit::kSeconds:
      return millis / 1000;
    case TimestampUnit::kMilliseconds:
      return millis;
    case TimestampUnit::kMicroseconds:
      return millis * 1000;
  }
  return millis;
}

}  // namespace brook::connectors
