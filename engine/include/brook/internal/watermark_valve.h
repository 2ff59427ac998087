// File: brook/internal/watermark_valve.h  (internal: not part of the API)
//
// Combines the watermarks and idle/active statuses of a subtask's input
// channels into the operator's input watermark, as Flink's
// StatusWatermarkValve: the watermark is the minimum over the active, aligned
// channels; an idle channel does not hold it back; a channel that becomes
// active again rejoins the minimum once its watermark catches up with the
// current output; the output never goes backwards. When every channel is
// idle, the maximum watermark across channels is emitted and then idleness.
#ifndef BROOK_INTERNAL_WATERMARK_VALVE_H_
#define BROOK_INTERNAL_WATERMARK_VALVE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "brook/time.h"

namespace brook::internal {

class WatermarkValve {
 public:
  // What to forward downstream after an input event. Becoming active goes
  // before the watermark; becoming idle goes after it.
  struct Output {
    std::optional<int64_t> watermark;
    std::optional<bool> idle;  // true: became idle; false: active again
  };

  explicit WatermarkValve(int num_channels);

  Output OnWatermark(int channel, int64_t watermark_ms);
  Output OnIdle(int channel);
  Output OnActive(int channel);
  // The channel's input ended: it counts as watermark +inf from now on.
  Output OnEndOfInput(int channel);

  bool AllEnded() const { return ended_ == static_cast<int>(channels_.size()); }
  // Whether `channel` has delivered a watermark beyond the current output.
  bool Ahead(int channel) const {
    const Channel& c = channels_[channel];
    return c.active && !c.ended && c.watermark > last_output_;
  }
  int64_t last_output() const { return last_output_; }
  bool idle() const { return idle_; }

 private:
  struct Channel {
    int64_t watermark = kMinTimestampMs;
    bool active = true;
    bool aligned = true;
    bool ended = false;
  };
  std::optional<int64_t> AdvanceToMinOfAligned();

  std::vector<Channel> channels_;
  int64_t last_output_ = kMinTimestampMs;
  bool idle_ = false;
  int ended_ = 0;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_WATERMARK_VALVE_H_
