#include "brook/internal/watermark_valve.h"

#include <algorithm>

namespace brook::internal {

WatermarkValve::WatermarkValve(int num_channels) : channels_(num_channels) {}

std::optional<int64_t> WatermarkValve::AdvanceToMinOfAligned() {
  bool any = false;
  int64_t min = kMaxWatermarkMs;
  for (const Channel& c : channels_) {
    if (c.active && c.aligned) {
      any = true;
      min = std::min(min, c.watermark);
    }
  }
  if (any && min > last_output_) {
    last_output_ = min;
    return min;
  }
  return std::nullopt;
}

WatermarkValve::Output WatermarkValve::OnWatermark(int channel, int64_t watermark_ms) {
  Channel& c = channels_[channel];
  Output out;
  // Watermarks from an idle channel are ignored, as in Flink.
  if (!c.active || c.ended || watermark_ms <= c.watermark) return out;
  c.watermark = watermark_ms;
  if (!c.aligned && watermark_ms >= last_output_) c.aligned = true;
  out.watermark = AdvanceToMinOfAligned();
  return out;
}

WatermarkValve::Output WatermarkValve::OnIdle(int channel) {
  Channel& c = channels_[channel];
  Output out;
  if (!c.active || c.ended) return out;
  c.active = false;
  c.aligned = false;
  const bool all_idle =
      std::none_of(channels_.begin(), channels_.end(), [](const Channel& ch) { return ch.active; });
  if (all_idle) {
    // Nothing holds time back any more: release what every channel has seen.
    int64_t max = kMinTimestampMs;
    for (const Channel& ch : channels_) max = std::max(max, ch.watermark);
    if (max > last_output_) {
      last_output_ = max;
      out.watermark = max;
    }
    if (!idle_) {
      idle_ = true;
      out.idle = true;
    }
  } else {
    out.watermark = AdvanceToMinOfAligned();
  }
  return out;
}

WatermarkValve::Output WatermarkValve::OnActive(int channel) {
  Channel& c = channels_[channel];
  Output out;
  if (c.active || c.ended) return out;
  c.active = true;
  c.aligned = c.watermark >= last_output_;
  if (idle_) {
    idle_ = false;
    out.idle = false;
  }
  return out;
}

WatermarkValve::Output WatermarkValve::OnEndOfInput(int channel) {
  Channel& c = channels_[channel];
  Output out;
  if (c.ended) return out;
  c.ended = true;
  ++ended_;
  c.watermark = kMaxWatermarkMs;
  c.aligned = true;
  if (!c.active) {
    c.active = true;
    if (idle_) {
      idle_ = false;
      out.idle = false;
    }
  }
  out.watermark = AdvanceToMinOfAligned();
  return out;
}

}  // namespace brook::internal
