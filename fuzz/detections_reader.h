// Reads a whole detections input (Dataset A) the way the camera job's
// FileSource does: header, then every line to a record or a dead letter.
#ifndef BROOK_FUZZ_DETECTIONS_READER_H_
#define BROOK_FUZZ_DETECTIONS_READER_H_

#include <cstdlib>
#include <memory>
#include <string_view>

#include "brook/connectors/file_source.h"
#include "camera_top_k/detection_schema.h"
#include "fuzz_util.h"

namespace brook_fuzz {

// Every line must become a record or a rejection with a reason; a rejection
// keeps the raw line. Anything else is a bug (abort: libFuzzer reports it).
template <typename Format>
void ReadAllDetections(std::string_view bytes, Format format) {
  MemFile file(bytes);
  auto reader = brook::connectors::LineRecordReader<Format>::Open(file.path(), std::move(format));
  if (!reader.ok()) return;  // a bad header: reported before the job runs
  brook::connectors::ReadResult<camera::Event> result;
  for (;;) {
    auto more = (*reader)->Next(result);
    if (!more.ok()) std::abort();  // reading a memfd cannot fail
    if (!*more) break;
    if (result.rejected && result.dead_letter.reason.empty()) std::abort();
  }
  if ((*reader)->accepted() + (*reader)->rejected() + (*reader)->blank_lines() >
      static_cast<int64_t>(bytes.size()) + 1) {
    std::abort();  // more lines than bytes
  }
}

}  // namespace brook_fuzz

#endif  // BROOK_FUZZ_DETECTIONS_READER_H_
