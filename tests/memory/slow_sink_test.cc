// Bounded memory under a slow sink (issue 16): a live source that wants
// 50,000 records/s feeds, through a network channel, a sink that takes
// 10 ms per batch. Backpressure must throttle the source (its channel is
// full, it blocks) instead of letting records pile up: resident memory stays
// within a bound, the backpressure metric shows the source blocked, and
// every record arrives once, in order.
//
// The bound. The source runs as 2 subtasks of 25,000 records/s each, the sink
// as 1 (so each source subtask has a channel to it: at parallelism 1 on both
// sides the two would be chained, one thread, no channel). Each of the 2
// channels holds at most channel_capacity (8) batches of batch_size (256)
// records; add the batch each source writer is filling and the one the sink
// is working on: at most (2 x 8 + 2 + 1) x 256 = 4,864 records in flight. A
// record is 40 bytes inline plus a 200-byte payload on the heap (~256 bytes
// with malloc's rounding): ~1.2 MB in flight. The test allows
// the resident set 8 MiB of growth after the first second (allocator slack,
// thread stacks and metric buffers touched late) and never more than 64 MiB
// in all. Without backpressure the surplus (50,000 - 25,600 records/s at
// 256 bytes) would grow the heap by ~6 MB every second: 30 MB in the 5-s
// run, 370 MB in the 60-s one.
//
// The sink drains at most 256 records per 10 ms = 25,600 records/s, about
// half the source's rate, so the source must be throttled to that.
//
// BROOK_SLOW_SINK_SECONDS (default 5) sets the duration: the 60-s run is
//   BROOK_SLOW_SINK_SECONDS=60 build/tests/brook_memory_test --gtest_filter='SlowSink*'
// (docs/operations.md). Label soak: the ASan phase skips it.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "brook/brook.h"
#include "brook/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::brook::testing::IsOk;
using ::testing::Ge;
using ::testing::Le;
using ::testing::Lt;

constexpr int64_t kRatePerSecond = 50'000;  // both source subtasks together
constexpr int kSourceParallelism = 2;
constexpr size_t kBatchSize = 256;
constexpr int kChannelCapacity = 8;
constexpr auto kSinkDelay = std::chrono::milliseconds(10);
constexpr size_t kPayloadBytes = 200;

struct Reading {
  int64_t seq = 0;
  std::string payload;
};

int64_t ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// A live source pacing itself to kRatePerSecond (its subtasks together) from
// its first poll, for `duration`, then ending. Subtask i of p emits seq i,
// i + p, i + 2p, ...
class PacedSource : public brook::Source<Reading> {
 public:
  explicit PacedSource(std::chrono::milliseconds duration) : duration_(duration) {}
  brook::Boundedness boundedness() const override {
    return brook::Boundedness::kContinuousUnbounded;
  }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<Reading>>> CreateReader(
      const brook::SourceReaderContext& ctx) override {
    return std::unique_ptr<brook::SourceReader<Reading>>(
        new Reader(this, ctx.subtask_index, ctx.parallelism));
  }
  std::atomic<int64_t> emitted{0};

 private:
  class Reader : public brook::SourceReader<Reading> {
   public:
    Reader(PacedSource* source, int index, int parallelism)
        : source_(source), index_(index), parallelism_(parallelism) {}
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<Reading>& out) override {
      const auto now = std::chrono::steady_clock::now();
      if (next_ == 0) start_ = now;
      const auto elapsed = now - start_;
      if (elapsed >= source_->duration_) return brook::InputStatus::kEndOfInput;
      const int64_t due =
          std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() *
          kRatePerSecond / parallelism_ / 1'000'000;
      if (due <= next_ && next_ > 0) return brook::InputStatus::kNothingAvailable;
      const int64_t until = std::max(due, next_ + 1);
      for (int i = 0; i < 512 && next_ < until; ++i, ++next_) {
        record_.seq = index_ + next_ * parallelism_;
        record_.payload.assign(kPayloadBytes, static_cast<char>('a' + next_ % 26));
        out.Collect(record_, record_.seq);
        source_->emitted.fetch_add(1, std::memory_order_relaxed);
      }
      return brook::InputStatus::kMoreAvailable;
    }

   private:
    PacedSource* source_;
    const int index_;
    const int parallelism_;
    std::chrono::steady_clock::time_point start_;
    int64_t next_ = 0;
    Reading record_;
  };
  const std::chrono::milliseconds duration_;
};

// Takes kSinkDelay per batch; checks that each source subtask's records come
// once and in order.
class SlowSink : public brook::Sink<Reading> {
 public:
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<Reading>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    return std::unique_ptr<brook::SinkWriter<Reading>>(new Writer(this));
  }
  std::atomic<int64_t> received{0};
  std::atomic<int64_t> out_of_order{0};
  std::atomic<int64_t> batches{0};

 private:
  class Writer : public brook::SinkWriter<Reading> {
   public:
    explicit Writer(SlowSink* sink) : sink_(sink) {}
    absl::Status Write(std::vector<brook::StreamRecord<Reading>>& batch) override {
      std::this_thread::sleep_for(kSinkDelay);
      for (const auto& r : batch) {
        int64_t& next = next_[r.value.seq % kSourceParallelism];
        if (r.value.seq != next || r.value.payload.size() != kPayloadBytes) {
          sink_->out_of_order.fetch_add(1, std::memory_order_relaxed);
        }
        next = r.value.seq + kSourceParallelism;
      }
      sink_->received.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
      sink_->batches.fetch_add(1, std::memory_order_relaxed);
      return absl::OkStatus();
    }

   private:
    SlowSink* sink_;
    int64_t next_[kSourceParallelism] = {0, 1};
  };
};

int64_t SourceBackpressureMs(brook::MetricRegistry& metrics) {
  int64_t ms = 0;
  for (const auto& m : metrics.Snapshot()) {
    if (m.name == "backpressured_time_ms" && m.scope.operator_name == "paced-source") {
      ms += m.value;
    }
  }
  return ms;
}

TEST(SlowSinkTest, BackpressureBoundsMemoryAndLosesNothing) {
  const char* env_seconds = std::getenv("BROOK_SLOW_SINK_SECONDS");
  const int seconds = env_seconds != nullptr ? std::max(2, std::atoi(env_seconds)) : 5;
  const auto duration = std::chrono::milliseconds(seconds * 1000);

  brook::StreamExecutionEnvironment env(
      {.parallelism = kSourceParallelism, .batch_size = kBatchSize,
       .channel_capacity = kChannelCapacity});
  auto source = std::make_shared<PacedSource>(duration);
  auto sink = std::make_shared<SlowSink>();
  env.FromSource<Reading>(source, brook::WatermarkStrategy<Reading>::NoWatermarks(),
                          "paced-source")
      .SinkTo(sink, "slow-sink", 1);

  // Resident memory, sampled every 100 ms: after the first second, the
  // largest sample and the growth over the first.
  std::atomic<bool> done{false};
  int64_t baseline_kib = 0, peak_kib = 0;
  std::thread sampler([&] {
    const auto start = std::chrono::steady_clock::now();
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t rss = ResidentKiB();
      if (std::chrono::steady_clock::now() - start < std::chrono::seconds(1)) continue;
      if (baseline_kib == 0) baseline_kib = rss;
      peak_kib = std::max(peak_kib, rss);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = env.Execute("slow-sink");
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  sampler.join();
  ASSERT_THAT(status, IsOk());

  const int64_t emitted = source->emitted.load();
  const int64_t backpressure_ms = SourceBackpressureMs(env.metrics());
  const double source_rate = static_cast<double>(emitted) / seconds;
  std::printf(
      "slow sink: %d s, %lld records (%.0f/s of %lld/s wanted) in %lld batches, %.1f s to drain "
      "and end; source backpressured %lld ms; RSS %lld KiB after 1 s, peak %lld KiB (+%lld)\n",
      seconds, static_cast<long long>(emitted), source_rate,
      static_cast<long long>(kRatePerSecond), static_cast<long long>(sink->batches.load()),
      elapsed_s - seconds, static_cast<long long>(backpressure_ms),
      static_cast<long long>(baseline_kib), static_cast<long long>(peak_kib),
      static_cast<long long>(peak_kib - baseline_kib));

  // No record lost, doubled or reordered.
  EXPECT_EQ(sink->received.load(), emitted);
  EXPECT_EQ(sink->out_of_order.load(), 0);
  // Throttled: about the sink's 25,600/s, far below the 50,000/s wanted
  // (a loaded machine only slows the sink further), and each source subtask
  // blocked on its full channel for most of the run.
  EXPECT_THAT(source_rate, Lt(0.75 * kRatePerSecond));
  EXPECT_THAT(backpressure_ms, Ge(kSourceParallelism * seconds * 1000 / 3));
  // Bounded: in flight at most 19 batches of 256 records (~1.2 MB).
  EXPECT_THAT(peak_kib - baseline_kib, Le(8 * 1024));
  EXPECT_THAT(peak_kib, Le(64 * 1024));
}

}  // namespace
