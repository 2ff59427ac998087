// File: camera_top_k/scale_out_flags.h
//
// camera_top_k's scale-out flags (--num_processes, --process_index,
// --job_id, --repartition_by_detection, --exchange_partitions);
// docs/scale-out.md. Checked by ValidateScaleOut (scale_out.h).
#ifndef CAMERA_TOP_K_SCALE_OUT_FLAGS_H_
#define CAMERA_TOP_K_SCALE_OUT_FLAGS_H_

#include "camera_top_k/scale_out_options.h"

namespace camera {

// ScaleOutOptions but `brokers` from the flags (call after parsing).
ScaleOutOptions ScaleOutOptionsFromFlags();

}  // namespace camera

#endif  // CAMERA_TOP_K_SCALE_OUT_FLAGS_H_
