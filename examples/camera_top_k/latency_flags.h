// File: camera_top_k/latency_flags.h
//
// The engine timing flags of the camera job: --buffer_timeout (Flink's
// buffer timeout) and --latency_tracking_interval (latency markers, whose
// "latency_us" histograms /metrics shows). See docs/performance.md.
#ifndef CAMERA_TOP_K_LATENCY_FLAGS_H_
#define CAMERA_TOP_K_LATENCY_FLAGS_H_

#include "camera_top_k/camera_job.h"

namespace camera {

// Sets options->buffer_timeout and latency_tracking_interval from the flags
// (call after parsing). kInvalidArgument naming the flag for a negative one.
absl::Status ApplyLatencyFlags(CameraJobOptions* options);

}  // namespace camera

#endif  // CAMERA_TOP_K_LATENCY_FLAGS_H_
