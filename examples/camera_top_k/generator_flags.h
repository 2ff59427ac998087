// File: camera_top_k/generator_flags.h
//
// The generator's command-line flags (--generate_*), shared by camera_top_k
// and camera_generate so that both spell and default them the same way.
#ifndef CAMERA_TOP_K_GENERATOR_FLAGS_H_
#define CAMERA_TOP_K_GENERATOR_FLAGS_H_

#include "absl/flags/declare.h"
#include "camera_top_k/generator.h"

ABSL_DECLARE_FLAG(bool, generate);
ABSL_DECLARE_FLAG(double, generate_rate);

namespace camera {

// GeneratorOptions from the --generate_* flags (call after parsing).
GeneratorOptions GeneratorOptionsFromFlags();

}  // namespace camera

#endif  // CAMERA_TOP_K_GENERATOR_FLAGS_H_
