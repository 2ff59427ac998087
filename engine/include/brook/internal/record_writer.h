// File: brook/internal/record_writer.h  (internal: not part of the API)
//
// The producing end of an edge between subtasks: batches records per target
// subtask as the edge's partitioning says, and broadcasts watermarks,
// idleness, end of input and checkpoint barriers behind them.
#ifndef BROOK_INTERNAL_RECORD_WRITER_H_
#define BROOK_INTERNAL_RECORD_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "brook/internal/channel.h"
#include "brook/internal/checkpoint_barrier.h"
#include "brook/internal/output.h"
#include "brook/internal/partitioner.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/status.h"

namespace brook::internal {

// The producing end of the channels from one subtask to the subtasks of the
// next operator.
class WriterBase {
 public:
  virtual ~WriterBase() = default;
  // Pushes partly filled per-target batches.
  virtual absl::Status Flush() = 0;
  // Flushes, then sends `barrier` on every target channel, behind the
  // records that precede it.
  virtual absl::Status EmitBarrier(const CheckpointBarrier& barrier) = 0;
};

template <typename T>
class RecordWriter final : public RecordConsumer<T>, public WriterBase {
 public:
  // `channel`: this writer's channel in every target gate; `subtask`: the
  // producing subtask's index (a forward edge feeds the same index).
  RecordWriter(Partitioning kind, std::function<int32_t(const T&)> key_hash,
               std::vector<InputGate<T>*> targets, int channel, int subtask,
               int max_parallelism, size_t batch_size, Counter* backpressured_ms)
      : kind_(kind),
        forward_target_(subtask),
        key_hash_(std::move(key_hash)),
        targets_(std::move(targets)),
        channel_(channel),
        max_parallelism_(max_parallelism),
        batch_size_(batch_size),
        backpressured_ms_(backpressured_ms),
        buffers_(kind == Partitioning::kHash ? targets_.size() : 0) {
    if (kind == Partitioning::kHash) {
      // Per record a load, not a 64-bit division.
      const int n = static_cast<int>(targets_.size());
      target_of_key_group_.resize(static_cast<size_t>(max_parallelism));
      for (int kg = 0; kg < max_parallelism; ++kg) {
        target_of_key_group_[static_cast<size_t>(kg)] =
            ComputeOperatorIndexForKeyGroup(max_parallelism, n, kg);
      }
    }
  }

  absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) override {
    const int n = static_cast<int>(targets_.size());
    switch (kind_) {
      case Partitioning::kForward:
        return Push(forward_target_ % n, batch);
      case Partitioning::kRebalance: {
        const int t = next_target_;
        next_target_ = (next_target_ + 1) % n;
        return Push(t, batch);
      }
      case Partitioning::kBroadcast:
        for (int t = 0; t + 1 < n; ++t) {
          std::vector<StreamRecord<T>> copy = batch;
          BROOK_RETURN_IF_ERROR(Push(t, copy));
        }
        return Push(n - 1, batch);
      case Partitioning::kHash:
        for (auto& r : batch) {
          const int kg = AssignKeyHashToKeyGroup(key_hash_(r.value), max_parallelism_);
          const int t = target_of_key_group_[static_cast<size_t>(kg)];
          auto& buf = buffers_[t];
          if (buf.capacity() == 0) buf.reserve(batch_size_);
          buf.push_back(std::move(r));
          if (buf.size() >= batch_size_) BROOK_RETURN_IF_ERROR(Push(t, buf));
        }
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    for (size_t t = 0; t < buffers_.size(); ++t) {
      if (!buffers_[t].empty()) {
        BROOK_RETURN_IF_ERROR(Push(static_cast<int>(t), buffers_[t]));
      }
    }
    return absl::OkStatus();
  }
  absl::Status ProcessWatermark(int64_t watermark_ms) override {
    return BroadcastControl(ChannelElement<T>::Kind::kWatermark, watermark_ms);
  }
  absl::Status ProcessWatermarkStatus(bool idle) override {
    return BroadcastControl(idle ? ChannelElement<T>::Kind::kIdle
                                 : ChannelElement<T>::Kind::kActive, 0);
  }
  absl::Status EndInput() override {
    return BroadcastControl(ChannelElement<T>::Kind::kEndOfInput, 0);
  }
  // To one target channel, in turn (Flink: a random one), behind the records
  // buffered for it: with hash partitioning it waits for their batch.
  absl::Status ProcessLatencyMarker(int64_t marked_time_us) override {
    const int n = static_cast<int>(targets_.size());
    const int t = kind_ == Partitioning::kForward ? forward_target_ % n : next_marker_target_;
    next_marker_target_ = (next_marker_target_ + 1) % n;
    if (kind_ == Partitioning::kHash && !buffers_[t].empty()) {
      if (pending_markers_.empty()) pending_markers_.resize(targets_.size());
      pending_markers_[t].push_back(marked_time_us);
      return absl::OkStatus();
    }
    return PushMarker(t, marked_time_us);
  }
  absl::Status EmitBarrier(const CheckpointBarrier& barrier) override {
    BROOK_RETURN_IF_ERROR(Flush());
    for (size_t t = 0; t < targets_.size(); ++t) {
      ChannelElement<T> e;
      e.kind = ChannelElement<T>::Kind::kBarrier;
      e.checkpoint_id = barrier.checkpoint_id;
      e.savepoint = barrier.savepoint;
      BROOK_RETURN_IF_ERROR(PushElement(static_cast<int>(t), std::move(e)));
    }
    return absl::OkStatus();
  }

 private:
  // Moves `records` into the channel and leaves in it an empty batch the
  // consumer has finished with, when the channel has one (no allocation on a
  // warm edge), else an empty vector.
  absl::Status Push(int target, std::vector<StreamRecord<T>>& records) {
    ChannelElement<T> e;
    e.kind = ChannelElement<T>::Kind::kRecords;
    e.records = std::move(records);
    records.clear();  // a moved-from vector is valid but unspecified
    if (!targets_[target]->Push(channel_, std::move(e), backpressured_ms_, &records)) {
      return absl::CancelledError("job cancelled");
    }
    if (pending_markers_.empty() || pending_markers_[target].empty()) return absl::OkStatus();
    for (int64_t m : std::exchange(pending_markers_[target], {})) {
      BROOK_RETURN_IF_ERROR(PushMarker(target, m));
    }
    return absl::OkStatus();
  }
  absl::Status PushMarker(int target, int64_t marked_time_us) {
    ChannelElement<T> e;
    e.kind = ChannelElement<T>::Kind::kLatencyMarker;
    e.marked_time_us = marked_time_us;
    return PushElement(target, std::move(e));
  }
  absl::Status PushElement(int target, ChannelElement<T> e) {
    if (!targets_[target]->Push(channel_, std::move(e), backpressured_ms_)) {
      return absl::CancelledError("job cancelled");
    }
    return absl::OkStatus();
  }
  absl::Status BroadcastControl(typename ChannelElement<T>::Kind kind, int64_t watermark_ms) {
    BROOK_RETURN_IF_ERROR(Flush());
    for (size_t t = 0; t < targets_.size(); ++t) {
      ChannelElement<T> e;
      e.kind = kind;
      e.watermark_ms = watermark_ms;
      BROOK_RETURN_IF_ERROR(PushElement(static_cast<int>(t), std::move(e)));
    }
    return absl::OkStatus();
  }

  Partitioning kind_;
  int forward_target_;
  std::function<int32_t(const T&)> key_hash_;
  std::vector<InputGate<T>*> targets_;
  int channel_;  // this writer's channel index in every target gate
  int max_parallelism_;
  size_t batch_size_;
  Counter* backpressured_ms_;
  std::vector<std::vector<StreamRecord<T>>> buffers_;  // kHash: one per target
  std::vector<int> target_of_key_group_;                // kHash: by key group
  int next_target_ = 0;
  int next_marker_target_ = 0;
  // kHash: latency markers waiting behind a target's buffered records.
  std::vector<std::vector<int64_t>> pending_markers_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_RECORD_WRITER_H_
