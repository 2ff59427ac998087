// File: tests/engine/latency_test.cc
//
// Latency markers (ExecutionConfig::latency_tracking_interval) and the
// buffer timeout (ExecutionConfig::buffer_timeout) of an unbounded source.
// Suites are named Execution* so that CI runs them under ThreadSanitizer.
// No assertion depends on how fast the machine is: only on what arrives
// and in how many batches.
#include <atomic>
#include <chrono>
#include <map>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "brook/brook.h"
#include "brook/testing/status_matchers.h"

namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Gt;

// An unbounded source of one reader that emits `n` records 0..n-1, one per
// poll with `pause` before each, always reporting more available (a steady
// trickle: the case where only the buffer timeout flushes), then ends.
class TrickleSource : public brook::Source<int64_t> {
 public:
  TrickleSource(int64_t n, std::chrono::microseconds pause) : n_(n), pause_(pause) {}
  brook::Boundedness boundedness() const override {
    return brook::Boundedness::kContinuousUnbounded;
  }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<int64_t>>> CreateReader(
      const brook::SourceReaderContext&) override {
    return std::unique_ptr<brook::SourceReader<int64_t>>(new Reader(this));
  }

 private:
  class Reader : public brook::SourceReader<int64_t> {
   public:
    explicit Reader(TrickleSource* s) : s_(s) {}
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<int64_t>& out) override {
      if (next_ == s_->n_) return brook::InputStatus::kEndOfInput;
      std::this_thread::sleep_for(s_->pause_);
      out.Collect(next_, next_);
      ++next_;
      return brook::InputStatus::kMoreAvailable;
    }

   private:
    TrickleSource* s_;
    int64_t next_ = 0;
  };
  int64_t n_;
  std::chrono::microseconds pause_;
};

// Counts the batches (Write calls) and records that reach it.
class BatchCountingSink : public brook::Sink<int64_t> {
 public:
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<int64_t>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    return std::unique_ptr<brook::SinkWriter<int64_t>>(new Writer(this));
  }
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> records{0};

 private:
  class Writer : public brook::SinkWriter<int64_t> {
   public:
    explicit Writer(BatchCountingSink* s) : s_(s) {}
    absl::Status Write(std::vector<brook::StreamRecord<int64_t>>& batch) override {
      s_->batches.fetch_add(1);
      s_->records.fetch_add(static_cast<int64_t>(batch.size()));
      return absl::OkStatus();
    }

   private:
    BatchCountingSink* s_;
  };
};

// Runs 300 records, one every 200 us (at least 60 ms), through a map to the
// sink at parallelism 1 (one chain), with `config`.
int64_t BatchesAtSink(brook::ExecutionConfig config) {
  brook::StreamExecutionEnvironment env(config);
  auto sink = std::make_shared<BatchCountingSink>();
  env.FromSource<int64_t>(std::make_shared<TrickleSource>(300, std::chrono::microseconds(200)),
                          brook::WatermarkStrategy<int64_t>::NoWatermarks(), "trickle")
      .Map([](const int64_t& v) { return v + 1; }, "plus-one")
      .SinkTo(sink);
  EXPECT_THAT(env.Execute(), IsOk());
  EXPECT_EQ(sink->records.load(), 300);
  return sink->batches.load();
}

TEST(ExecutionBufferTimeoutTest, TrickleIsFlushedBeforeTheBatchFills) {
  // 300 records fit one batch: without the timeout they arrive together at
  // the end; with 1 ms they come in many partial batches (>= 60 ms of input).
  EXPECT_EQ(BatchesAtSink({.buffer_timeout = absl::InfiniteDuration()}), 1);
  EXPECT_THAT(BatchesAtSink({.buffer_timeout = absl::Milliseconds(1)}), Gt(5));
}

TEST(ExecutionBufferTimeoutTest, NegativeSettingsAreRejected) {
  for (const brook::ExecutionConfig& c :
       {brook::ExecutionConfig{.buffer_timeout = absl::Milliseconds(-1)},
        brook::ExecutionConfig{.latency_tracking_interval = absl::Milliseconds(-1)}}) {
    brook::StreamExecutionEnvironment env(c);
    env.FromCollection(std::vector<int64_t>{1, 2}).SinkTo(
        std::make_shared<brook::CollectSink<int64_t>>());
    EXPECT_THAT(env.Execute(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

// Observations of histogram "latency_us" per operator name, summed over
// subtasks.
std::map<std::string, int64_t> MarkersSeen(const brook::MetricRegistry& registry) {
  std::map<std::string, int64_t> seen;
  for (const brook::MetricValue& m : registry.Snapshot()) {
    if (m.name == "latency_us" && m.histogram.has_value()) {
      seen[m.scope.operator_name] += m.histogram->count();
    }
  }
  return seen;
}

class PlusOne : public brook::KeyedProcessFunction<int64_t, int64_t, int64_t> {
 public:
  absl::Status ProcessElement(const int64_t& v, Context&, brook::Collector<int64_t>& out) override {
    out.Collect(v + 1);
    return absl::OkStatus();
  }
};

TEST(ExecutionLatencyMarkerTest, MarkersReachEveryOperatorAndTheSinkAcrossAnExchange) {
  for (int p : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "parallelism " << p);
    brook::StreamExecutionEnvironment env(
        {.parallelism = p, .latency_tracking_interval = absl::Milliseconds(1)});
    auto sink = std::make_shared<brook::CollectSink<int64_t>>();
    // A keyed exchange and a window-like hold-up: the markers pass around a
    // keyed process function, not through it.
    env.FromSource<int64_t>(std::make_shared<TrickleSource>(300, std::chrono::microseconds(200)),
                            brook::WatermarkStrategy<int64_t>::NoWatermarks(), "trickle")
        .Map([](const int64_t& v) { return v * 2; }, "double")
        .KeyBy([](const int64_t& v) { return v % 7; })
        .Process(PlusOne(), "plus-one")
        .SinkTo(sink, "sink");
    ASSERT_THAT(env.Execute(), IsOk());
    // Every source subtask reads the whole trickle; the records are untouched.
    EXPECT_EQ(sink->values().size(), 300u * static_cast<size_t>(p));
    std::map<std::string, int64_t> seen = MarkersSeen(env.metrics());
    // >= 60 ms of input at 1 marker per ms: some reach every stage.
    EXPECT_THAT(seen["double"], Gt(5));
    EXPECT_THAT(seen["plus-one"], Gt(5));
    EXPECT_THAT(seen["sink"], Gt(5));
    EXPECT_EQ(seen.count("trickle"), 0u);  // a source emits, never records
  }
}

TEST(ExecutionLatencyMarkerTest, OffByDefault) {
  brook::StreamExecutionEnvironment env;
  env.FromSource<int64_t>(std::make_shared<TrickleSource>(50, std::chrono::microseconds(200)),
                          brook::WatermarkStrategy<int64_t>::NoWatermarks(), "trickle")
      .SinkTo(std::make_shared<brook::CollectSink<int64_t>>(), "sink");
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_TRUE(MarkersSeen(env.metrics()).empty());
}

}  // namespace
