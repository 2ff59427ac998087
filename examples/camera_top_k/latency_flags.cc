// File: camera_top_k/latency_flags.cc
#include "camera_top_k/latency_flags.h"

#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

ABSL_FLAG(absl::Duration, buffer_timeout, absl::Milliseconds(5),
          "A live source hands a partly filled batch downstream after this long (Flink's buffer "
          "timeout); 0: after every poll; inf: only full batches.");
ABSL_FLAG(absl::Duration, latency_tracking_interval, absl::Milliseconds(200),
          "How often each source emits a latency marker (every operator and sink records the time "
          "since, histogram latency_us on /metrics; it also gives the dashboard's freshness); 0: "
          "off.");

namespace camera {

absl::Status ApplyLatencyFlags(CameraJobOptions* options) {
  const absl::Duration timeout = absl::GetFlag(FLAGS_buffer_timeout);
  const absl::Duration interval = absl::GetFlag(FLAGS_latency_tracking_interval);
  for (const auto& [name, d] : {std::pair{"--buffer_timeout", timeout},
                                std::pair{"--latency_tracking_interval", interval}}) {
    if (d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": must not be negative"));
    }
  }
  options->buffer_timeout = timeout;
  options->latency_tracking_interval = interval;
  return absl::OkStatus();
}

}  // namespace camera
