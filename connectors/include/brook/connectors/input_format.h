// File: brook/connectors/input_format.h
//
// InputFormat: a file source's line format by name, as a command-line flag or
// a config gives it: CSV (csv_format.h) or JSON Lines (json_lines_format.h),
// or kAuto to go by the file's extension.
#ifndef BROOK_CONNECTORS_INPUT_FORMAT_H_
#define BROOK_CONNECTORS_INPUT_FORMAT_H_

#include <string_view>

#include "absl/status/statusor.h"

namespace brook::connectors {

enum class InputFormat {
  kAuto,  // kJsonLines when the path ends in ".jsonl", else kCsv
  kCsv,
  kJsonLines,
};

// Parses "auto", "csv", "jsonl". kInvalidArgument otherwise, quoting `text`.
absl::StatusOr<InputFormat> ParseInputFormat(std::string_view text);

// `format`, or for kAuto the one `path`'s extension implies (see kAuto).
InputFormat ResolveInputFormat(InputFormat format, std::string_view path);

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_INPUT_FORMAT_H_
