#include "brook/progress_reporter.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "brook/time.h"

namespace brook {
namespace {

int64_t Read(const MetricRegistry& metrics, const ProgressReporterOptions& options) {
  return metrics.Sum("num_records_in", options.input_operator).value_or(0);
}

// The lowest watermark over the operator's subtasks; kMinTimestampMs if none.
int64_t LowestWatermark(const MetricRegistry& metrics, const std::string& op) {
  int64_t min = std::numeric_limits<int64_t>::max();
  bool any = false;
  for (const MetricValue& m : metrics.Snapshot()) {
    if (m.scope.operator_name == op && m.name == "current_watermark_ms") {
      min = std::min(min, m.value);
      any = true;
    }
  }
  return any ? min : kMinTimestampMs;
}

std::string FormatWatermark(int64_t wm) {
  if (wm == kMinTimestampMs) return "none";
  if (wm == kMaxWatermarkMs) return "end";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(wm), absl::UTCTimeZone());
}

std::string Format(const MetricRegistry& metrics, const ProgressReporterOptions& options,
                   int64_t read, double records_per_second) {
  return absl::StrFormat("progress: read=%d records/s=%.0f watermark=%s state_entries=%d", read,
                         records_per_second,
                         FormatWatermark(LowestWatermark(metrics, options.watermark_operator)),
                         metrics.Sum("state_entries").value_or(0));
}

}  // namespace

ProgressReporter::ProgressReporter(const MetricRegistry& metrics, ProgressReporterOptions options,
                                   std::function<void(const std::string& line)> report) {
  if (!report) return;
  thread_ = std::thread([this, &metrics, options = std::move(options), report = std::move(report)] {
    int64_t last_read = 0;
    absl::Time last = absl::Now();
    while (!done_.WaitForNotificationWithTimeout(options.interval)) {
      const absl::Time now = absl::Now();
      const int64_t read = Read(metrics, options);
      report(Format(metrics, options, read,
                    static_cast<double>(read - last_read) / absl::ToDoubleSeconds(now - last)));
      last_read = read;
      last = now;
    }
  });
}

ProgressReporter::~ProgressReporter() { Stop(); }

void ProgressReporter::Stop() {
  if (!done_.HasBeenNotified()) done_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::string ProgressReporter::Line(const MetricRegistry& metrics,
                                   const ProgressReporterOptions& options,
                                   double records_per_second) {
  return Format(metrics, options, Read(metrics, options), records_per_second);
}

}  // namespace brook
