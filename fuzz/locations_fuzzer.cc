// Fuzz target: the locations file (Dataset B), loaded whole by
// camera::LoadLocationsCsv (brook::connectors::ReadCsvTable): any bad row is
// an error naming the line, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "camera_top_k/detection_schema.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brook_fuzz::MemFile file(std::string_view(reinterpret_cast<const char*>(data), size));
  auto locations = camera::LoadLocationsCsv(file.path());
  if (!locations.ok() && locations.status().message().empty()) std::abort();
  return 0;
}
