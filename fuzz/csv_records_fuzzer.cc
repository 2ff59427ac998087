// Fuzz target: a CSV detections file (header + rows) through the camera
// job's schema, as its FileSource reads it: brook::connectors::CsvFormat
// (libcsv for quoted lines), LineReader, CheckLine, the row schema.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "brook/connectors/csv_format.h"
#include "detections_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The unit picks the timestamp conversion (seconds can overflow).
  const auto unit = size > 0 && data[0] % 3 == 0   ? camera::TimestampUnit::kSeconds
                    : size > 0 && data[0] % 3 == 1 ? camera::TimestampUnit::kMicroseconds
                                                   : camera::TimestampUnit::kMilliseconds;
  brook_fuzz::ReadAllDetections(bytes, brook::connectors::CsvFormat(camera::DetectionSchema(unit)));
  return 0;
}
