// File: brook/internal/input_task.h  (internal: not part of the API)
//
// InputSubtask<T>: a subtask whose chain reads an InputGate (every chain
// that does not start at a source). Records go to the head of the chain;
// control elements go through InputAlignment (watermarks, watermark and
// barrier alignment; see input_alignment.h for the rules).
#ifndef BROOK_INTERNAL_INPUT_TASK_H_
#define BROOK_INTERNAL_INPUT_TASK_H_

#include <deque>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "brook/internal/channel.h"
#include "brook/internal/input_alignment.h"
#include "brook/internal/output.h"
#include "brook/internal/subtask.h"
#include "brook/status.h"

namespace brook::internal {

template <typename T>
class InputSubtask final : public SubtaskBase {
 public:
  InputSubtask(std::unique_ptr<InputGate<T>> gate, RecordConsumer<T>* head,
               bool align_watermarks = false)
      : gate_(std::move(gate)),
        head_(head),
        alignment_(gate_->num_channels(), align_watermarks,
                   [gate = gate_.get()](int channel, bool paused) {
                     gate->SetPaused(channel, paused);
                   }) {}

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
          if (alignment_.AllEnded()) {
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
        if (!s.ok() || !e.watermark_follows) return s;
        return Apply(alignment_.OnWatermark(channel, e.watermark_ms));
      }
      case Kind::kWatermark:
        return Apply(alignment_.OnWatermark(channel, e.watermark_ms));
      case Kind::kIdle:
        return Apply(alignment_.OnIdle(channel));
      case Kind::kActive:
        return Apply(alignment_.OnActive(channel));
      case Kind::kEndOfInput:
        return Apply(alignment_.OnEndOfInput(channel));
      case Kind::kBarrier:
        return Apply(alignment_.OnBarrier(channel, CheckpointBarrier{e.checkpoint_id, e.savepoint}));
      case Kind::kLatencyMarker:  // not aligned: it only measures
        return head_->ProcessLatencyMarker(e.marked_time_us);
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const InputAlignment::Actions& a) {
    const WatermarkValve::Output& out = a.watermark;
    if (out.idle.has_value() && !*out.idle) {
      BROOK_RETURN_IF_ERROR(head_->ProcessWatermarkStatus(false));
    }
    if (out.watermark.has_value()) BROOK_RETURN_IF_ERROR(head_->ProcessWatermark(*out.watermark));
    if (out.idle.has_value() && *out.idle) {
      BROOK_RETURN_IF_ERROR(head_->ProcessWatermarkStatus(true));
    }
    if (a.checkpoint.has_value()) return PerformCheckpoint(*a.checkpoint, a.alignment_ms);
    return absl::OkStatus();
  }

  std::unique_ptr<InputGate<T>> gate_;
  RecordConsumer<T>* head_;
  InputAlignment alignment_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_INPUT_TASK_H_
