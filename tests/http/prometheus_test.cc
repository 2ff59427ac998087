// brook::web::FormatPrometheusText and brook::Histogram.
#include "brook/web/prometheus.h"

#include <string>
#include <vector>

#include "brook/metrics.h"
#include "brook/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

brook::MetricGroup Group(brook::MetricRegistry& r, const std::string& op, int subtask = 0) {
  return brook::MetricGroup(&r, {"job-1", op, subtask});
}

TEST(HistogramTest, BucketsFollowPrometheusLeRule) {
  brook::Histogram h({10, 1, 5, 5});  // sorted and de-duplicated
  EXPECT_THAT(h.upper_bounds(), ElementsAre(1, 5, 10));
  for (int64_t v : {0, 1, 2, 5, 6, 10, 11, 1000}) h.Observe(v);
  brook::HistogramSnapshot s = h.Snapshot();
  EXPECT_THAT(s.counts, ElementsAre(2, 2, 2, 2));  // <=1, (1,5], (5,10], +Inf
  EXPECT_EQ(s.count(), 8);
  EXPECT_EQ(s.sum, 0 + 1 + 2 + 5 + 6 + 10 + 11 + 1000);
}

TEST(HistogramTest, RegistryReturnsOneHistogramPerScopeAndName) {
  brook::MetricRegistry r;
  brook::MetricGroup g = Group(r, "op");
  brook::Histogram* a = g.GetHistogram("latency_ms", {1, 2});
  brook::Histogram* b = g.GetHistogram("latency_ms", {7});
  EXPECT_EQ(a, b);
  a->Observe(2);
  std::vector<brook::MetricValue> snap = r.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  ASSERT_TRUE(snap[0].histogram.has_value());
  EXPECT_FALSE(snap[0].is_counter);
  EXPECT_EQ(snap[0].value, 1);
  EXPECT_THAT(snap[0].histogram->counts, ElementsAre(0, 1, 0));
}

TEST(PrometheusTest, NamesFollowPrometheusConventions) {
  EXPECT_EQ(brook::web::PrometheusMetricName("num_records_in", true), "brook_records_in_total");
  EXPECT_EQ(brook::web::PrometheusMetricName("state_bytes", false), "brook_state_bytes");
  EXPECT_EQ(brook::web::PrometheusMetricName("backpressured_time_ms", true),
            "brook_backpressured_time_seconds_total");
  EXPECT_EQ(brook::web::PrometheusMetricName("current_watermark_ms", false),
            "brook_current_watermark_timestamp_seconds");
  EXPECT_EQ(brook::web::PrometheusMetricName("weird-name.x", false), "brook_weird_name_x");
  EXPECT_EQ(brook::web::PrometheusMetricName("x_total", true, "p_"), "p_x_total");
}

TEST(PrometheusTest, CountersGaugesAndLabels) {
  brook::MetricRegistry r;
  brook::MetricGroup g = Group(r, "dedup", 1);
  g.GetCounter("num_records_in")->Inc(42);
  g.GetCounter("num_duplicates")->Inc(3);
  g.GetGauge("state_entries")->Set(7);
  g.GetCounter("backpressured_time_ms")->Inc(1500);
  g.GetCounter("num_records_out_late-data")->Inc(2);
  const std::string text = brook::web::FormatPrometheusText(r);
  EXPECT_THAT(text, HasSubstr("# TYPE brook_records_in_total counter\n"
                              "brook_records_in_total{job=\"job-1\",operator=\"dedup\","
                              "subtask=\"1\"} 42\n"));
  EXPECT_THAT(text, HasSubstr("# HELP brook_duplicates_total "));
  EXPECT_THAT(
      text,
      HasSubstr("brook_duplicates_total{job=\"job-1\",operator=\"dedup\",subtask=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE brook_state_entries gauge\n"));
  EXPECT_THAT(text, HasSubstr("brook_backpressured_time_seconds_total{job=\"job-1\","
                              "operator=\"dedup\",subtask=\"1\"} 1.5\n"));
  EXPECT_THAT(text, HasSubstr("brook_side_output_records_total{job=\"job-1\",operator=\"dedup\","
                              "subtask=\"1\",output=\"late-data\"} 2\n"));
  // Every family has HELP and TYPE, once.
  size_t helps = 0;
  size_t types = 0;
  for (size_t pos = 0; (pos = text.find("# HELP ", pos)) != std::string::npos; ++pos) ++helps;
  for (size_t pos = 0; (pos = text.find("# TYPE ", pos)) != std::string::npos; ++pos) ++types;
  EXPECT_EQ(helps, 5u);
  EXPECT_EQ(types, 5u);
}

TEST(PrometheusTest, KafkaPartitionMetricsGetTopicAndPartitionLabels) {
  brook::MetricRegistry r;
  brook::MetricGroup g = Group(r, "kafka", 1);
  g.GetGauge("kafka_consumer_lag.detections/3")->Set(12);
  g.GetCounter("kafka_records_in.my.topic/10")->Inc(5);
  g.GetCounter("kafka_commit_failures")->Inc(1);
  const std::string text = brook::web::FormatPrometheusText(r);
  EXPECT_THAT(text, HasSubstr("# TYPE brook_kafka_consumer_lag gauge\n"));
  EXPECT_THAT(text, HasSubstr("brook_kafka_consumer_lag{job=\"job-1\",operator=\"kafka\","
                              "subtask=\"1\",topic=\"detections\",partition=\"3\"} 12\n"));
  EXPECT_THAT(text, HasSubstr("brook_kafka_records_in_total{job=\"job-1\",operator=\"kafka\","
                              "subtask=\"1\",topic=\"my.topic\",partition=\"10\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("brook_kafka_commit_failures_total{job=\"job-1\","
                              "operator=\"kafka\",subtask=\"1\"} 1\n"));
}

TEST(PrometheusTest, LabelValuesAreEscaped) {
  brook::MetricRegistry r;
  brook::MetricGroup(&r, {"a\"b\\c\nd", "op", 0}).GetCounter("num_records_in")->Inc();
  EXPECT_THAT(brook::web::FormatPrometheusText(r),
              HasSubstr("{job=\"a\\\"b\\\\c\\nd\",operator=\"op\",subtask=\"0\"} 1\n"));
}

TEST(PrometheusTest, WatermarkAndLag) {
  brook::MetricRegistry r;
  Group(r, "none-yet").GetGauge("current_watermark_ms");  // 0: no watermark yet
  Group(r, "min").GetGauge("current_watermark_ms")->Set(brook::kMinTimestampMs);
  Group(r, "end").GetGauge("current_watermark_ms")->Set(brook::kMaxWatermarkMs);
  Group(r, "live").GetGauge("current_watermark_ms")->Set(1'000'000);
  const std::string text = brook::web::FormatPrometheusText(r, {.now_ms = 1'002'500});
  EXPECT_THAT(text, HasSubstr("brook_current_watermark_timestamp_seconds{job=\"job-1\","
                              "operator=\"live\",subtask=\"0\"} 1000\n"));
  EXPECT_THAT(text, HasSubstr("operator=\"min\",subtask=\"0\"} -Inf\n"));
  EXPECT_THAT(text, HasSubstr("operator=\"end\",subtask=\"0\"} +Inf\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE brook_watermark_lag_seconds gauge\n"
                              "brook_watermark_lag_seconds{job=\"job-1\",operator=\"live\","
                              "subtask=\"0\"} 2.5\n"));
  EXPECT_THAT(text, Not(HasSubstr("brook_watermark_lag_seconds{job=\"job-1\",operator=\"end\"")));
  EXPECT_THAT(text,
              Not(HasSubstr("brook_watermark_lag_seconds{job=\"job-1\",operator=\"none-yet\"")));
  EXPECT_THAT(brook::web::FormatPrometheusText(r, {.now_ms = 1, .watermark_lag = false}),
              Not(HasSubstr("watermark_lag")));
}

TEST(PrometheusTest, HistogramsAreCumulativeWithSumAndCount) {
  brook::MetricRegistry r;
  brook::Histogram* h = Group(r, "sink").GetHistogram("result_latency_ms", {100, 1000});
  h->Observe(50);
  h->Observe(500);
  h->Observe(5000);
  const std::string text = brook::web::FormatPrometheusText(r);
  const std::string labels = "job=\"job-1\",operator=\"sink\",subtask=\"0\"";
  EXPECT_THAT(text, HasSubstr("# TYPE brook_result_latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("brook_result_latency_seconds_bucket{" + labels +
                              ",le=\"0.1\"} 1\n"
                              "brook_result_latency_seconds_bucket{" +
                              labels +
                              ",le=\"1\"} 2\n"
                              "brook_result_latency_seconds_bucket{" +
                              labels +
                              ",le=\"+Inf\"} 3\n"
                              "brook_result_latency_seconds_sum{" +
                              labels +
                              "} 5.55\n"
                              "brook_result_latency_seconds_count{" +
                              labels + "} 3\n"));
}

TEST(PrometheusTest, MicrosecondHistogramsAreInSeconds) {
  brook::MetricRegistry r;
  Group(r, "sink").GetHistogram("latency_us", {500, 2000})->Observe(1500);
  const std::string text = brook::web::FormatPrometheusText(r);
  const std::string labels = "job=\"job-1\",operator=\"sink\",subtask=\"0\"";
  EXPECT_THAT(text, HasSubstr("brook_latency_seconds_bucket{" + labels + ",le=\"0.002\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("brook_latency_seconds_sum{" + labels + "} 0.0015\n"));
}

TEST(PrometheusTest, EmptyRegistryIsEmptyText) {
  brook::MetricRegistry r;
  EXPECT_EQ(brook::web::FormatPrometheusText(r), "");
}

}  // namespace
