// brook::ProgressReporter: the progress line's text and the reporter thread.
#include "brook/progress_reporter.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook {
namespace {

using ::testing::Each;
using ::testing::StartsWith;

ProgressReporterOptions Options() {
  ProgressReporterOptions o;
  o.interval = absl::Milliseconds(1);
  o.input_operator = "parse";
  o.watermark_operator = "window";
  return o;
}

TEST(ProgressReporterTest, LineBeforeTheOperatorsOpenReadsZeroAndNoWatermark) {
  MetricRegistry metrics;
  EXPECT_EQ(ProgressReporter::Line(metrics, Options(), 0),
            "progress: read=0 records/s=0 watermark=none state_entries=0");
}

TEST(ProgressReporterTest, LineSumsReadAndStateAndTakesTheLowestWatermark) {
  MetricRegistry metrics;
  MetricGroup(&metrics, {"job", "parse", 0}).GetCounter("num_records_in")->Inc(3);
  MetricGroup(&metrics, {"job", "parse", 1}).GetCounter("num_records_in")->Inc(4);
  MetricGroup(&metrics, {"job", "other", 0}).GetCounter("num_records_in")->Inc(100);
  MetricGroup(&metrics, {"job", "window", 0}).GetGauge("current_watermark_ms")->Set(2500);
  MetricGroup(&metrics, {"job", "window", 1}).GetGauge("current_watermark_ms")->Set(1000);
  MetricGroup(&metrics, {"job", "other", 0}).GetGauge("current_watermark_ms")->Set(5);
  MetricGroup(&metrics, {"job", "window", 0}).GetGauge("state_entries")->Set(5);
  MetricGroup(&metrics, {"job", "dedup", 0}).GetGauge("state_entries")->Set(6);
  EXPECT_EQ(ProgressReporter::Line(metrics, Options(), 12.4),
            "progress: read=7 records/s=12 watermark=1970-01-01T00:00:01.000Z state_entries=11");
  MetricGroup(&metrics, {"job", "window", 1})
      .GetGauge("current_watermark_ms")
      ->Set(kMaxWatermarkMs);
  MetricGroup(&metrics, {"job", "window", 0})
      .GetGauge("current_watermark_ms")
      ->Set(kMaxWatermarkMs);
  EXPECT_THAT(ProgressReporter::Line(metrics, Options(), 0), testing::HasSubstr("watermark=end"));
}

TEST(ProgressReporterTest, ReportsEveryIntervalUntilStopped) {
  MetricRegistry metrics;
  MetricGroup(&metrics, {"job", "parse", 0}).GetCounter("num_records_in")->Inc(9);
  absl::Mutex mu;
  std::vector<std::string> lines;
  ProgressReporter reporter(metrics, Options(), [&](const std::string& line) {
    absl::MutexLock lock(&mu);
    lines.push_back(line);
  });
  auto count = [&] {
    absl::MutexLock lock(&mu);
    return lines.size();
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (count() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  reporter.Stop();
  const size_t stopped_at = count();
  ASSERT_GE(stopped_at, 3u);
  absl::SleepFor(absl::Milliseconds(20));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(lines.size(), stopped_at);  // nothing after Stop()
  EXPECT_THAT(lines, Each(StartsWith("progress: read=9 records/s=")));
}

TEST(ProgressReporterTest, WithoutAReportFunctionStartsNoThread) {
  MetricRegistry metrics;
  ProgressReporter reporter(metrics, Options(), nullptr);
  reporter.Stop();
  reporter.Stop();  // idempotent
}

}  // namespace
}  // namespace brook
