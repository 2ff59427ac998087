// File: brook/web/prometheus.h
//
// The metrics of a MetricRegistry in the Prometheus text exposition format
// (version 0.0.4), for a `/metrics` endpoint or a file a node exporter picks
// up. Part of the brook::web library (Flink: flink-metrics-prometheus):
// Example:
//   std::string text = brook::web::FormatPrometheusText(env.metrics());
//   // serve with Content-Type brook::web::kPrometheusContentType
//
// Naming (Prometheus conventions, so that `promtool check metrics` accepts
// the output): every metric becomes `brook_<name>` with the labels `job`,
// `operator` and `subtask` (values escaped). A leading `num_` is dropped;
// counters end in `_total`; a name ending in `_ms` or `_us` is exported in
// base units, seconds (`backpressured_time_ms` ->
// `brook_backpressured_time_seconds_total`, values divided by 1000; `_us` by
// 10^6). Special cases:
//   current_watermark_ms   -> brook_current_watermark_timestamp_seconds (gauge;
//                             -Inf before the first watermark's kMinTimestampMs,
//                             +Inf after the end of input)
//   num_records_out_<tag>  -> brook_side_output_records_total{output="<tag>"}
//   kafka_<name>.<topic>/<partition> (a Kafka source's per-partition metrics)
//                          -> brook_kafka_<name>{topic="<topic>",partition="<partition>"}
// and one derived gauge, brook_watermark_lag_seconds = processing time minus
// current watermark, for every scope whose current watermark is an actual
// event time (neither 0, its value before any watermark, nor ±infinity).
// Histograms (MetricGroup::GetHistogram) become Prometheus histograms
// (`_bucket{le=...}` cumulative, `_sum`, `_count`). Characters outside
// [a-zA-Z0-9_] in a name become `_`. Every family has `# HELP` and `# TYPE`.
//
// Thread-safety: reads the registry through MetricRegistry::Snapshot(), so it
// may run on any thread while the job runs.
#ifndef BROOK_WEB_PROMETHEUS_H_
#define BROOK_WEB_PROMETHEUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "brook/metrics.h"

namespace brook::web {

// The Content-Type of the text format this file writes.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct PrometheusFormatOptions {
  // Prepended to every metric name. Must match [a-zA-Z_][a-zA-Z0-9_]*.
  std::string prefix = "brook_";
  // Processing time for the watermark lag, epoch ms; < 0 = the wall clock.
  int64_t now_ms = -1;
  // Export brook_watermark_lag_seconds.
  bool watermark_lag = true;
};

// FormatPrometheusText(): every metric of `registry`, as described above.
std::string FormatPrometheusText(const MetricRegistry& registry,
                                 const PrometheusFormatOptions& options = {});

// FormatPrometheusText(): the same for values taken earlier (e.g. the last
// Snapshot() of a job that has finished).
std::string FormatPrometheusText(const std::vector<MetricValue>& metrics,
                                 const PrometheusFormatOptions& options = {});

// PrometheusMetricName(): the exported family name of registry metric `name`
// (`num_records_in` -> `brook_records_in_total` for a counter), without
// `_bucket`/`_sum`/`_count` for histograms.
std::string PrometheusMetricName(const std::string& name, bool is_counter,
                                 const std::string& prefix = "brook_");

}  // namespace brook::web

#endif  // BROOK_WEB_PROMETHEUS_H_
