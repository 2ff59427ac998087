// Fuzz target: a JSON Lines detections file through the camera job's schema,
// as its FileSource reads it: brook::connectors::JsonLinesFormat (simdjson,
// in place in LineReader's padded buffer), LineReader, CheckLine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "brook/connectors/json_lines_format.h"
#include "detections_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  brook_fuzz::ReadAllDetections(
      bytes, brook::connectors::JsonLinesFormat(
                 camera::DetectionSchema(camera::TimestampUnit::kMilliseconds)));
  return 0;
}
