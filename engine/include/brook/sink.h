// File: brook/sink.h
//
// Sinks (Flink's Sink/SinkWriter): a Sink is a factory shared by the job; each
// sink subtask gets its own SinkWriter, called from that subtask's thread only.
// Records arrive in batches, in order, with their event timestamps.
#ifndef BROOK_SINK_H_
#define BROOK_SINK_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "brook/metrics.h"
#include "brook/record.h"

namespace brook {

struct SinkWriterContext {
  int subtask_index = 0;
  int parallelism = 1;
  MetricGroup* metrics = nullptr;
  // The job's CheckpointConfig::interval (zero: no periodic checkpoints), for
  // sinks whose commits must fit in it (e.g. a Kafka transaction's timeout).
  absl::Duration checkpoint_interval = absl::ZeroDuration();
};

template <typename T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  // May move values out of `batch`. A non-OK status fails the job.
  virtual absl::Status Write(std::vector<StreamRecord<T>>& batch) = 0;
  virtual absl::Status OnWatermark(int64_t /*watermark_ms*/) { return absl::OkStatus(); }
  // The input ended: make everything written durable/visible (with
  // checkpointing, this commits what no checkpoint has covered yet, as
  // Flink's final checkpoint at the end of a bounded input).
  virtual absl::Status Flush() { return absl::OkStatus(); }
  virtual absl::Status Close() { return absl::OkStatus(); }

  // Two-phase commit (DESIGN.md §7, as Flink's TwoPhaseCommittingSink).
  // Pre-commit, at checkpoint barrier `checkpoint_id`, after every record
  // before it was written: make the pending output durable (but not yet
  // visible) and return what a restored writer needs to commit it or discard
  // what followed (e.g. pending file names and lengths). Called on the
  // subtask's thread; the default keeps no state (output is visible at once:
  // at-least-once after a restore).
  virtual absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) {
    return std::string();
  }
  // Commit: checkpoint `checkpoint_id` is complete, so the output pre-committed
  // at its barrier (and earlier ones) becomes visible. Must be idempotent.
  virtual absl::Status NotifyCheckpointComplete(int64_t /*checkpoint_id*/) {
    return absl::OkStatus();
  }
  // Restore, before the first Write(): `states` are the snapshots of the
  // writers now assigned to this subtask at the restored checkpoint. The
  // writer commits what they pre-committed (the checkpoint is complete) and
  // discards any output written after it.
  virtual absl::Status RestoreState(std::vector<std::string> states) {
    for (const auto& s : states) {
      if (!s.empty()) return absl::FailedPreconditionError("sink writer keeps no state");
    }
    return absl::OkStatus();
  }
};

template <typename T>
class Sink {
 public:
  virtual ~Sink() = default;
  // Called once per sink subtask, before the job's threads start.
  virtual absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) = 0;
};

// CollectSink<T>: keeps every record (and each subtask's watermarks) in memory,
// for tests and for embedding services that read results after Execute().
// Thread-safe.
template <typename T>
class CollectSink final : public Sink<T> {
 public:
  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) override {
    return std::unique_ptr<SinkWriter<T>>(new Writer(this, ctx.subtask_index));
  }

  // Every record collected so far, in arrival order per subtask (subtasks
  // interleave in no particular order).
  std::vector<StreamRecord<T>> records() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  std::vector<T> values() const {
    absl::MutexLock lock(&mu_);
    std::vector<T> out;
    out.reserve(records_.size());
    for (const auto& r : records_) out.push_back(r.value);
    return out;
  }
  // Watermarks seen by sink subtask `subtask`, in order.
  std::vector<int64_t> watermarks(int subtask = 0) const {
    absl::MutexLock lock(&mu_);
    return subtask < static_cast<int>(watermarks_.size()) ? watermarks_[subtask]
                                                          : std::vector<int64_t>{};
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(CollectSink* sink, int subtask) : sink_(sink), subtask_(subtask) {}
    absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
      absl::MutexLock lock(&sink_->mu_);
      for (auto& r : batch) sink_->records_.push_back(std::move(r));
      return absl::OkStatus();
    }
    absl::Status OnWatermark(int64_t watermark_ms) override {
      absl::MutexLock lock(&sink_->mu_);
      auto& w = sink_->watermarks_;
      if (static_cast<int>(w.size()) <= subtask_) w.resize(subtask_ + 1);
      w[subtask_].push_back(watermark_ms);
      return absl::OkStatus();
    }

   private:
    CollectSink* sink_;
    int subtask_;
  };

  mutable absl::Mutex mu_;
  std::vector<StreamRecord<T>> records_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<int64_t>> watermarks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brook

#endif  // BROOK_SINK_H_
