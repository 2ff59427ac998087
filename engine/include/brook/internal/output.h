// File: brook/internal/output.h  (internal: not part of the API)
//
// How records leave an operator. An operator appends to an Output<T>'s batch
// buffer (no virtual call per record); a full buffer, or any control element,
// hands the batch to the RecordConsumers downstream: the next operator of the
// chain, or a writer into the channels of the next subtasks. Control elements
// flush the buffer first, so a watermark is never reordered with records.
#ifndef BROOK_INTERNAL_OUTPUT_H_
#define BROOK_INTERNAL_OUTPUT_H_

#include <cstdint>
#include <typeindex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "brook/metrics.h"
#include "brook/record.h"
#include "brook/status.h"

namespace brook::internal {

inline constexpr size_t kDefaultBatchSize = 1024;

// A receiver of batches and control elements, in order.
template <typename T>
class RecordConsumer {
 public:
  virtual ~RecordConsumer() = default;
  // May move values out of `batch`; the caller clears it afterwards.
  virtual absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) = 0;
  virtual absl::Status ProcessWatermark(int64_t watermark_ms) = 0;
  // Idle (true) or active again (false), as Flink's WatermarkStatus.
  virtual absl::Status ProcessWatermarkStatus(bool idle) = 0;
  virtual absl::Status EndInput() = 0;
  // A latency marker emitted by a source at `marked_time_us` (wall clock,
  // microseconds since the epoch): passed on around the operators, not
  // through their functions (Flink's LatencyMarker). Default: dropped.
  virtual absl::Status ProcessLatencyMarker(int64_t /*marked_time_us*/) {
    return absl::OkStatus();
  }
};

class OutputBase {
 public:
  explicit OutputBase(std::type_index type) : type_(type) {}
  virtual ~OutputBase() = default;
  virtual absl::Status Flush() = 0;
  virtual absl::Status EmitWatermark(int64_t watermark_ms) = 0;
  virtual absl::Status EmitWatermarkStatus(bool idle) = 0;
  virtual absl::Status EmitEndInput() = 0;
  // Sends a latency marker behind the records buffered now (not flushing
  // them: it waits for their batch, as a record would).
  virtual absl::Status EmitLatencyMarker(int64_t marked_time_us) = 0;
  virtual bool has_consumers() const = 0;
  std::type_index type() const { return type_; }

 private:
  std::type_index type_;
};

template <typename T>
class Output final : public OutputBase {
 public:
  Output(std::vector<RecordConsumer<T>*> consumers, Counter* records_out,
         size_t batch_size = kDefaultBatchSize)
      : OutputBase(typeid(T)),
        consumers_(std::move(consumers)),
        records_out_(records_out),
        batch_size_(batch_size) {
    buffer_.reserve(batch_size_);
  }

  // Copies (or moves) `value` straight into the batch: one copy per record
  // and operator, where a by-value parameter cost three more moves (a
  // measurable share of a chain of cheap operators; docs/performance.md).
  void Collect(const T& value, int64_t timestamp_ms) { Append(value, timestamp_ms); }
  void Collect(T&& value, int64_t timestamp_ms) { Append(std::move(value), timestamp_ms); }

  // Hands the buffered batch downstream; also reports an error deferred from
  // a flush inside Collect().
  absl::Status Flush() override {
    if (!status_.ok()) return status_;
    if (buffer_.empty()) return absl::OkStatus();
    if (records_out_ != nullptr) records_out_->Inc(static_cast<int64_t>(buffer_.size()));
    for (size_t i = 0; i < consumers_.size(); ++i) {
      absl::Status s;
      if (i + 1 < consumers_.size()) {
        copy_ = buffer_;  // fan-out: every consumer but the last gets a copy
        s = consumers_[i]->ProcessBatch(copy_);
        copy_.clear();
      } else {
        s = consumers_[i]->ProcessBatch(buffer_);
      }
      if (!s.ok()) {
        status_ = s;
        break;
      }
    }
    buffer_.clear();
    if (buffer_.capacity() < batch_size_) buffer_.reserve(batch_size_);
    if (!pending_markers_.empty() && status_.ok()) status_ = SendPendingMarkers();
    return status_;
  }
  absl::Status EmitWatermark(int64_t watermark_ms) override {
    return Broadcast([&](RecordConsumer<T>* c) { return c->ProcessWatermark(watermark_ms); });
  }
  absl::Status EmitWatermarkStatus(bool idle) override {
    return Broadcast([&](RecordConsumer<T>* c) { return c->ProcessWatermarkStatus(idle); });
  }
  absl::Status EmitEndInput() override {
    return Broadcast([&](RecordConsumer<T>* c) { return c->EndInput(); });
  }
  // To every consumer (Flink picks one output at random; markers are rare,
  // and this way every branch is measured).
  absl::Status EmitLatencyMarker(int64_t marked_time_us) override {
    if (!status_.ok()) return status_;
    if (!buffer_.empty()) {
      pending_markers_.push_back(marked_time_us);
      return absl::OkStatus();
    }
    for (RecordConsumer<T>* c : consumers_) {
      if (absl::Status s = c->ProcessLatencyMarker(marked_time_us); !s.ok()) return status_ = s;
    }
    return absl::OkStatus();
  }
  bool has_consumers() const override { return !consumers_.empty(); }

 private:
  absl::Status SendPendingMarkers() {
    std::vector<int64_t> markers = std::exchange(pending_markers_, {});
    for (int64_t m : markers) {
      for (RecordConsumer<T>* c : consumers_) BROOK_RETURN_IF_ERROR(c->ProcessLatencyMarker(m));
    }
    return absl::OkStatus();
  }

  template <typename V>
  void Append(V&& value, int64_t timestamp_ms) {
#if defined(__cpp_aggregate_paren_init) && __cpp_aggregate_paren_init >= 201902L
    buffer_.emplace_back(timestamp_ms, std::forward<V>(value));  // built in place
#else
    buffer_.push_back(StreamRecord<T>{timestamp_ms, std::forward<V>(value)});
#endif
    if (buffer_.size() >= batch_size_) {
      absl::Status s = Flush();
      if (!s.ok() && status_.ok()) status_ = s;
    }
  }

  template <typename F>
  absl::Status Broadcast(F f) {
    if (absl::Status s = Flush(); !s.ok()) return s;
    for (RecordConsumer<T>* c : consumers_) {
      if (absl::Status s = f(c); !s.ok()) return status_ = s;
    }
    return absl::OkStatus();
  }

  std::vector<RecordConsumer<T>*> consumers_;
  Counter* records_out_;
  size_t batch_size_;
  std::vector<StreamRecord<T>> buffer_;
  std::vector<StreamRecord<T>> copy_;
  std::vector<int64_t> pending_markers_;  // behind buffer_'s records
  absl::Status status_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_OUTPUT_H_
