// File: brook/connectors/text_line_format.h
//
// TextLineFormat: each line of a text file is one std::string record, as
// Flink's TextLineInputFormat. A line format for FileSource (file_source.h):
// no header; blank lines are skipped by the reader; a line over kMaxLineBytes
// or not valid UTF-8 is rejected before it gets here (CheckLine), so every
// record is valid UTF-8 text without its line terminator.
#ifndef BROOK_CONNECTORS_TEXT_LINE_FORMAT_H_
#define BROOK_CONNECTORS_TEXT_LINE_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "brook/connectors/line_reader.h"

namespace brook::connectors {

struct TextLineFormat {
  using Record = std::string;
  absl::Status ReadHeader(LineReader& /*lines*/) { return absl::OkStatus(); }
  bool Parse(std::string_view text, int64_t /*line_number*/, std::string& out,
             std::string& /*reason*/) {
    out.assign(text);
    return true;
  }
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_TEXT_LINE_FORMAT_H_
