// File: brook/internal/subtask.h  (internal: not part of the API)
//
// A subtask runs one operator chain on one thread. Source subtasks poll a
// SourceReader; the others take batches and control elements from their
// InputGate. Both serve their mailbox between batches and, whenever their
// input has nothing ready, flush every partly filled batch downstream, so
// latency stays low when the stream is slow and batches stay full when it is
// fast.
#ifndef BROOK_INTERNAL_SUBTASK_H_
#define BROOK_INTERNAL_SUBTASK_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/internal/channel.h"
#include "brook/internal/operator.h"
#include "brook/internal/output.h"
#include "brook/internal/watermark_valve.h"
#include "brook/key_group.h"
#include "brook/source.h"
#include "brook/status.h"
#include "brook/watermark_strategy.h"

namespace brook::internal {

enum class Partitioning { kForward, kRebalance, kHash, kBroadcast };

struct PartitionerBase {
  explicit PartitionerBase(Partitioning k) : kind(k) {}
  virtual ~PartitionerBase() = default;
  Partitioning kind;
};

// For kHash: the record's key hash (KeyHash of its key); the writer maps it to
// a key group and the key group to a subtask (DESIGN.md §3).
template <typename T>
struct Partitioner final : PartitionerBase {
  using PartitionerBase::PartitionerBase;
  std::function<int32_t(const T&)> key_hash;
};

// The producing end of the channels from one subtask to the subtasks of the
// next operator.
class WriterBase {
 public:
  virtual ~WriterBase() = default;
  // Pushes partly filled per-target batches.
  virtual absl::Status Flush() = 0;
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
        buffers_(kind == Partitioning::kHash ? targets_.size() : 0) {}

  absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) override {
    const int n = static_cast<int>(targets_.size());
    switch (kind_) {
      case Partitioning::kForward:
        return Push(forward_target_ % n, std::move(batch));
      case Partitioning::kRebalance: {
        const int t = next_target_;
        next_target_ = (next_target_ + 1) % n;
        return Push(t, std::move(batch));
      }
      case Partitioning::kBroadcast:
        for (int t = 0; t + 1 < n; ++t) BROOK_RETURN_IF_ERROR(Push(t, batch));
        return Push(n - 1, std::move(batch));
      case Partitioning::kHash:
        for (auto& r : batch) {
          const int kg = AssignKeyHashToKeyGroup(key_hash_(r.value), max_parallelism_);
          const int t = ComputeOperatorIndexForKeyGroup(max_parallelism_, n, kg);
          auto& buf = buffers_[t];
          if (buf.capacity() == 0) buf.reserve(batch_size_);
          buf.push_back(std::move(r));
          if (buf.size() >= batch_size_) BROOK_RETURN_IF_ERROR(Push(t, std::move(buf)));
        }
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    for (size_t t = 0; t < buffers_.size(); ++t) {
      if (!buffers_[t].empty()) {
        BROOK_RETURN_IF_ERROR(Push(static_cast<int>(t), std::move(buffers_[t])));
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

 private:
  absl::Status Push(int target, std::vector<StreamRecord<T>> records) {
    ChannelElement<T> e;
    e.kind = ChannelElement<T>::Kind::kRecords;
    e.records = std::move(records);
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
  int next_target_ = 0;
};

// One subtask: an operator chain (head first) and the objects that connect it.
class SubtaskBase {
 public:
  virtual ~SubtaskBase() = default;

  // Opens the chain (tail first, so consumers are ready), runs until the input
  // ends, the job is cancelled or an operator fails, then closes the chain.
  absl::Status Run() {
    absl::Status status;
    size_t opened = 0;
    for (auto it = operators.rbegin(); it != operators.rend(); ++it, ++opened) {
      status = (*it)->Open();
      if (!status.ok()) break;
    }
    if (status.ok()) status = RunLoop();
    for (size_t i = operators.size() - opened; i < operators.size(); ++i) {
      absl::Status s = operators[i]->Close();
      if (status.ok()) status = s;
    }
    return status;
  }
  virtual Mailbox* mailbox() = 0;

  std::string name;
  std::vector<std::unique_ptr<OperatorBase>> operators;  // chain order, head first
  std::vector<std::unique_ptr<OutputBase>> outputs;
  std::vector<std::unique_ptr<WriterBase>> writers;

 protected:
  virtual absl::Status RunLoop() = 0;

  absl::Status FlushAll() {
    for (auto& op : operators) BROOK_RETURN_IF_ERROR(op->FlushOutputs());
    for (auto& w : writers) BROOK_RETURN_IF_ERROR(w->Flush());
    return absl::OkStatus();
  }
  static absl::Status RunMail(std::deque<Mail>& mail) {
    for (Mail& m : mail) BROOK_RETURN_IF_ERROR(m());
    return absl::OkStatus();
  }
};

// Watermark alignment (`align_watermarks`, set when every source of the job
// is bounded): a channel that has delivered a watermark beyond the combined
// one is not read until the other channels catch up. Each record is then
// processed under exactly the watermark that preceded it upstream, whatever
// the threads' timing, so lateness, firings and what a sink holds at each
// watermark are the same on every run and at any parallelism (DESIGN.md §4:
// file sources are deterministic). The combined watermark is still Flink's
// minimum over the inputs. It cannot deadlock as long as every operator
// forwards its input watermark unchanged (true of all of brook's; an operator
// that held watermarks back could, in a diamond): a channel holding the
// global minimum is never paused, and neither are its producer's inputs.
// Unbounded jobs are not aligned: there a stalled input would stop the
// others' records, not just their event time.
template <typename T>
class InputSubtask final : public SubtaskBase {
 public:
  InputSubtask(std::unique_ptr<InputGate<T>> gate, RecordConsumer<T>* head,
               bool align_watermarks = false)
      : gate_(std::move(gate)),
        head_(head),
        valve_(gate_->num_channels()),
        align_watermarks_(align_watermarks && gate_->num_channels() > 1) {}

  Mailbox* mailbox() override { return gate_.get(); }

 protected:
  absl::Status RunLoop() override {
    std::deque<Mail> mail;
    ChannelElement<T> element;
    int channel = 0;
    while (true) {
      auto next = gate_->Poll(/*block=*/false, &mail, &element, &channel);
      if (next == InputGate<T>::Next::kNothing) {
        BROOK_RETURN_IF_ERROR(FlushAll());
        next = gate_->Poll(/*block=*/true, &mail, &element, &channel);
      }
      switch (next) {
        case InputGate<T>::Next::kCancelled:
          return absl::CancelledError("job cancelled");
        case InputGate<T>::Next::kNothing:
          break;
        case InputGate<T>::Next::kMail:
          BROOK_RETURN_IF_ERROR(RunMail(mail));
          mail.clear();
          break;
        case InputGate<T>::Next::kElement:
          BROOK_RETURN_IF_ERROR(Handle(channel, element));
          if (valve_.AllEnded()) {
            BROOK_RETURN_IF_ERROR(head_->EndInput());
            return FlushAll();
          }
          break;
      }
    }
  }

 private:
  using Kind = typename ChannelElement<T>::Kind;

  absl::Status Handle(int channel, ChannelElement<T>& e) {
    switch (e.kind) {
      case Kind::kRecords: {
        absl::Status s = head_->ProcessBatch(e.records);
        e.records.clear();
        return s;
      }
      case Kind::kWatermark:
        return Apply(valve_.OnWatermark(channel, e.watermark_ms));
      case Kind::kIdle:
        return Apply(valve_.OnIdle(channel));
      case Kind::kActive:
        return Apply(valve_.OnActive(channel));
      case Kind::kEndOfInput:
        return Apply(valve_.OnEndOfInput(channel));
    }
    return absl::OkStatus();
  }
  absl::Status Apply(const WatermarkValve::Output& out) {
    if (align_watermarks_) {
      for (int c = 0; c < gate_->num_channels(); ++c) gate_->SetPaused(c, valve_.Ahead(c));
    }
    if (out.idle.has_value() && !*out.idle) {
      BROOK_RETURN_IF_ERROR(head_->ProcessWatermarkStatus(false));
    }
    if (out.watermark.has_value()) BROOK_RETURN_IF_ERROR(head_->ProcessWatermark(*out.watermark));
    if (out.idle.has_value() && *out.idle) {
      BROOK_RETURN_IF_ERROR(head_->ProcessWatermarkStatus(true));
    }
    return absl::OkStatus();
  }

  std::unique_ptr<InputGate<T>> gate_;
  RecordConsumer<T>* head_;
  WatermarkValve valve_;
  const bool align_watermarks_;
};

// The head of a source chain: polls the reader, stamps timestamps and
// generates watermarks (DESIGN.md §4).
template <typename T>
class SourceDriver final : public OperatorBase {
 public:
  SourceDriver(std::unique_ptr<SourceReader<T>> reader, WatermarkStrategy<T> strategy,
               Boundedness boundedness)
      : reader_(std::move(reader)),
        strategy_(std::move(strategy)),
        bounded_(boundedness == Boundedness::kBounded),
        assigner_(strategy_.timestamp_assigner()),
        records_per_watermark_(strategy_.records_per_watermark()) {}

  absl::Status Open() override {
    out_ = static_cast<Output<T>*>(main_output_);
    generator_ = strategy_.CreateGenerator();
    return reader_->Open();
  }
  absl::Status Close() override { return reader_->Close(); }

  absl::StatusOr<InputStatus> Poll() {
    const int64_t before = emitted_;
    ReaderOutput<T> output(this);
    absl::StatusOr<InputStatus> st = reader_->PollNext(output);
    if (records_in_ != nullptr) records_in_->Inc(emitted_ - before);
    if (!status_.ok()) return status_;
    return st;
  }
  int64_t emitted() const { return emitted_; }

  // Asks the generator for a watermark and forwards it if it advanced.
  absl::Status EmitWatermark() {
    std::optional<int64_t> wm = generator_->OnPeriodicEmit();
    if (wm.has_value() && *wm > last_watermark_ms_) {
      last_watermark_ms_ = *wm;
      return ForwardWatermark(*wm);
    }
    return absl::OkStatus();
  }
  absl::Status MarkIdle() {
    if (idle_) return absl::OkStatus();
    idle_ = true;
    return ForwardWatermarkStatus(true);
  }
  // End of a bounded input: the maximum watermark, then end-of-input.
  absl::Status Finish() {
    if (last_watermark_ms_ < kMaxWatermarkMs) {
      last_watermark_ms_ = kMaxWatermarkMs;
      BROOK_RETURN_IF_ERROR(ForwardWatermark(kMaxWatermarkMs));
    }
    return ForwardEndInput();
  }

  // `value` is a const T& or a T&& from ReaderOutput: it reaches the batch
  // with one copy or move.
  template <typename V>
  void Collect(V&& value, int64_t timestamp_ms) {
    if (assigner_) timestamp_ms = assigner_(static_cast<const T&>(value));
    if (idle_) {
      idle_ = false;
      Defer(ForwardWatermarkStatus(false));
    }
    generator_->OnEvent(timestamp_ms);
    out_->Collect(std::forward<V>(value), timestamp_ms);
    ++emitted_;
    if (bounded_ && ++since_watermark_ >= records_per_watermark_) {
      since_watermark_ = 0;
      Defer(EmitWatermark());
    }
  }

 private:
  void Defer(absl::Status s) {
    if (!s.ok() && status_.ok()) status_ = std::move(s);
  }

  std::unique_ptr<SourceReader<T>> reader_;
  WatermarkStrategy<T> strategy_;
  bool bounded_;
  typename WatermarkStrategy<T>::TimestampAssigner assigner_;
  int64_t records_per_watermark_;
  std::unique_ptr<WatermarkGenerator> generator_;
  Output<T>* out_ = nullptr;
  int64_t last_watermark_ms_ = kMinTimestampMs;
  int64_t since_watermark_ = 0;
  int64_t emitted_ = 0;
  bool idle_ = false;
  absl::Status status_;
};

template <typename T>
class SourceSubtask final : public SubtaskBase {
 public:
  SourceSubtask(SourceDriver<T>* driver, const WatermarkStrategy<T>& strategy,
                Boundedness boundedness, TimerScheduler* clock)
      : driver_(driver),
        bounded_(boundedness == Boundedness::kBounded),
        interval_ms_(std::max<int64_t>(1, ToMillis(strategy.auto_watermark_interval()))),
        idleness_ms_(ToMillis(strategy.idleness())),
        clock_(clock) {}

  Mailbox* mailbox() override { return &mailbox_; }

 protected:
  absl::Status RunLoop() override {
    int64_t next_watermark_ms = clock_->NowMs() + interval_ms_;
    int64_t last_record_ms = clock_->NowMs();
    absl::Duration wait = absl::ZeroDuration();
    while (true) {
      std::deque<Mail> mail = mailbox_.TakeMail(wait);
      BROOK_RETURN_IF_ERROR(RunMail(mail));
      if (mailbox_.cancelled()) return absl::CancelledError("job cancelled");
      const int64_t before = driver_->emitted();
      BROOK_ASSIGN_OR_RETURN(InputStatus st, driver_->Poll());
      if (st == InputStatus::kEndOfInput) {
        BROOK_RETURN_IF_ERROR(driver_->Finish());
        return FlushAll();
      }
      wait = absl::ZeroDuration();
      if (!bounded_) {
        const int64_t now = clock_->NowMs();
        if (driver_->emitted() != before) last_record_ms = now;
        if (now >= next_watermark_ms) {
          BROOK_RETURN_IF_ERROR(driver_->EmitWatermark());
          next_watermark_ms = now + interval_ms_;
        }
        if (idleness_ms_ > 0 && now - last_record_ms >= idleness_ms_) {
          BROOK_RETURN_IF_ERROR(driver_->MarkIdle());
        }
        if (st == InputStatus::kNothingAvailable) {
          wait = absl::Milliseconds(std::clamp<int64_t>(next_watermark_ms - now, 1, 5));
        }
      } else if (st == InputStatus::kNothingAvailable) {
        wait = absl::Milliseconds(1);
      }
      if (st == InputStatus::kNothingAvailable) BROOK_RETURN_IF_ERROR(FlushAll());
    }
  }

 private:
  SourceDriver<T>* driver_;
  bool bounded_;
  int64_t interval_ms_;
  int64_t idleness_ms_;
  TimerScheduler* clock_;
  Mailbox mailbox_;
};

}  // namespace brook::internal

namespace brook {
template <typename T>
void ReaderOutput<T>::Collect(const T& value) {
  driver_->Collect(value, 0);
}
template <typename T>
void ReaderOutput<T>::Collect(T&& value) {
  driver_->Collect(std::move(value), 0);
}
template <typename T>
void ReaderOutput<T>::Collect(const T& value, int64_t timestamp_ms) {
  driver_->Collect(value, timestamp_ms);
}
template <typename T>
void ReaderOutput<T>::Collect(T&& value, int64_t timestamp_ms) {
  driver_->Collect(std::move(value), timestamp_ms);
}
}  // namespace brook

#endif  // BROOK_INTERNAL_SUBTASK_H_
