// File: brook/timer_service.h
//
// TimerService, as Flink's: time queries and timer registration for the
// current key. Timers are per key, deduplicated per (key, timestamp), fire in
// timestamp order (ties in key order, so firing is deterministic), and call
// the function's OnTimer with that key current.
//
// - An event-time timer at t fires when the watermark reaches t (t <= wm).
// - A processing-time timer at t fires once the wall clock (epoch ms) reaches
//   t. Processing-time timers still pending at the end of a bounded input are
//   not fired (event time has ended; the job is finishing).
//
// Only valid inside ProcessElement/OnTimer of a keyed function; not
// thread-safe (the runtime calls a function from one thread only).
#ifndef BROOK_TIMER_SERVICE_H_
#define BROOK_TIMER_SERVICE_H_

#include <cstdint>

namespace brook {

class TimerService {
 public:
  virtual ~TimerService() = default;
  // Wall-clock time, epoch ms (a ManualClock's in tests).
  virtual int64_t CurrentProcessingTime() const = 0;
  // The operator's current event-time watermark, epoch ms.
  virtual int64_t CurrentWatermark() const = 0;
  virtual void RegisterEventTimeTimer(int64_t timestamp_ms) = 0;
  virtual void RegisterProcessingTimeTimer(int64_t timestamp_ms) = 0;
  // Deleting a timer that does not exist is not an error.
  virtual void DeleteEventTimeTimer(int64_t timestamp_ms) = 0;
  virtual void DeleteProcessingTimeTimer(int64_t timestamp_ms) = 0;
};

}  // namespace brook

#endif  // BROOK_TIMER_SERVICE_H_
