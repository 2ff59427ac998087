#include "brook/internal/input_alignment.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace brook::internal {

InputAlignment::InputAlignment(int num_channels, bool align_watermarks,
                               std::function<void(int, bool)> set_paused)
    : num_channels_(num_channels),
      valve_(num_channels),
      align_watermarks_(align_watermarks && num_channels > 1),
      set_paused_(std::move(set_paused)),
      paused_(num_channels, false),
      barrier_blocked_(num_channels, false),
      ended_(num_channels, false) {}

InputAlignment::Actions InputAlignment::OnWatermark(int channel, int64_t watermark_ms) {
  return Watermark(valve_.OnWatermark(channel, watermark_ms));
}
InputAlignment::Actions InputAlignment::OnIdle(int channel) {
  return Watermark(valve_.OnIdle(channel));
}
InputAlignment::Actions InputAlignment::OnActive(int channel) {
  return Watermark(valve_.OnActive(channel));
}
InputAlignment::Actions InputAlignment::OnEndOfInput(int channel) {
  ended_[channel] = true;
  Actions actions = Watermark(valve_.OnEndOfInput(channel));
  MaybeComplete(actions);
  return actions;
}

InputAlignment::Actions InputAlignment::Watermark(const WatermarkValve::Output& out) {
  if (align_watermarks_ || aligning_) UpdatePauses();
  return Actions{out, std::nullopt, 0};
}

InputAlignment::Actions InputAlignment::OnBarrier(int channel, const CheckpointBarrier& barrier) {
  Actions actions;
  if (barrier.checkpoint_id <= last_barrier_id_) return actions;  // stale
  if (aligning_ && barrier.checkpoint_id < pending_.checkpoint_id) return actions;
  if (aligning_ && barrier.checkpoint_id > pending_.checkpoint_id) {
    // The older checkpoint was abandoned upstream: start over.
    std::fill(barrier_blocked_.begin(), barrier_blocked_.end(), false);
    aligning_ = false;
  }
  if (!aligning_) {
    aligning_ = true;
    pending_ = barrier;
    alignment_start_ = absl::Now();
  }
  barrier_blocked_[channel] = true;
  UpdatePauses();
  MaybeComplete(actions);
  return actions;
}

void InputAlignment::MaybeComplete(Actions& actions) {
  if (!aligning_) return;
  for (int c = 0; c < num_channels_; ++c) {
    if (!barrier_blocked_[c] && !ended_[c]) return;
  }
  actions.alignment_ms = absl::ToInt64Milliseconds(absl::Now() - alignment_start_);
  actions.checkpoint = pending_;
  aligning_ = false;
  last_barrier_id_ = pending_.checkpoint_id;
  std::fill(barrier_blocked_.begin(), barrier_blocked_.end(), false);
  UpdatePauses();
}

void InputAlignment::UpdatePauses() {
  // While a barrier is aligned, only barriers pause (see the file comment).
  const bool watermark_pauses = align_watermarks_ && !aligning_;
  for (int c = 0; c < num_channels_; ++c) {
    const bool paused = barrier_blocked_[c] || (watermark_pauses && valve_.Ahead(c));
    if (paused != paused_[c]) {
      paused_[c] = paused;
      set_paused_(c, paused);
    }
  }
}

}  // namespace brook::internal
