// File: brook/record.h
//
// StreamRecord<T>: a value with its event timestamp (epoch ms). Operators see
// records one at a time; the runtime moves them in batches (vectors of
// StreamRecord) so that queueing and virtual dispatch cost per batch.
#ifndef BROOK_RECORD_H_
#define BROOK_RECORD_H_

#include <cstdint>

namespace brook {

template <typename T>
struct StreamRecord {
  int64_t timestamp_ms = 0;
  T value;

  friend bool operator==(const StreamRecord&, const StreamRecord&) = default;
};

}  // namespace brook

#endif  // BROOK_RECORD_H_
