// File: brook/progress_reporter.h
//
// ProgressReporter: the progress line of a long run (DESIGN.md §11), read
// from a running job's metrics every `interval`:
//
//   progress: read=N records/s=R watermark=W state_entries=S
//
//   N  the sum of num_records_in over the subtasks of `input_operator`
//   R  records read per second since the previous line (wall clock)
//   W  the lowest current_watermark_ms over the subtasks of
//      `watermark_operator`, as 2024-01-02T03:04:05.678Z (UTC); "none" before
//      the first watermark, "end" after the last
//   S  the sum of every state_entries metric
//
// Before the job opens its operators their metrics read as 0 (W: "none").
//
//   brook::ProgressReporter progress(env.metrics(), {.input_operator = "parse",
//                                    .watermark_operator = "window"}, print);
//   absl::Status s = env.Execute("job");
//   progress.Stop();
//
// Thread-safety: `report` is called from the reporter's own thread, which
// reads the registry (thread-safe); the registry must outlive Stop().
#ifndef BROOK_PROGRESS_REPORTER_H_
#define BROOK_PROGRESS_REPORTER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "brook/metrics.h"

namespace brook {

struct ProgressReporterOptions {
  absl::Duration interval = absl::Seconds(5);  // > 0
  std::string input_operator;                  // whose num_records_in counts as read
  std::string watermark_operator;              // whose current_watermark_ms is shown
};

class ProgressReporter {
 public:
  // Starts calling `report` with a line every options.interval, until
  // Stop(); does nothing when `report` is empty.
  ProgressReporter(const MetricRegistry& metrics, ProgressReporterOptions options,
                   std::function<void(const std::string& line)> report);
  ~ProgressReporter();  // Stop()
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // ProgressReporter::Stop(): no line is reported once it returns. Idempotent.
  void Stop();

  // ProgressReporter::Line(): the line for the metrics as they are now,
  // `records_per_second` given.
  static std::string Line(const MetricRegistry& metrics, const ProgressReporterOptions& options,
                          double records_per_second);

 private:
  absl::Notification done_;
  std::thread thread_;
};

}  // namespace brook

#endif  // BROOK_PROGRESS_REPORTER_H_
