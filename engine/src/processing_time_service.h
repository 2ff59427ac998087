// Internal: processing time on Boost.Asio. One io_context thread per running
// job (started by the first timer) serves every subtask's processing-time
// timers; a due timer runs a callback on that thread, which posts mail into
// the owning subtask's mailbox so the operator itself only ever runs on its
// own thread.
#ifndef BROOK_SRC_PROCESSING_TIME_SERVICE_H_
#define BROOK_SRC_PROCESSING_TIME_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>

namespace brook::internal {

class ProcessingTimeService {
 public:
  ProcessingTimeService();
  ~ProcessingTimeService();  // Stop()s
  ProcessingTimeService(const ProcessingTimeService&) = delete;
  ProcessingTimeService& operator=(const ProcessingTimeService&) = delete;

  // Wall-clock time, epoch ms.
  static int64_t NowMs();
  // Thread-safe. Runs `callback` on the service thread at or after
  // `timestamp_ms` (at once if that has passed), unless Stop() comes first.
  void ScheduleAt(int64_t timestamp_ms, std::function<void()> callback);
  // Cancels pending timers and joins the service thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brook::internal

#endif  // BROOK_SRC_PROCESSING_TIME_SERVICE_H_
