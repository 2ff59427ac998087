#include "brook/connectors/input_format.h"

#include "absl/strings/str_cat.h"
#include "brook/connectors/row_schema.h"

namespace brook::connectors {

absl::StatusOr<InputFormat> ParseInputFormat(std::string_view text) {
  if (text == "auto") return InputFormat::kAuto;
  if (text == "csv") return InputFormat::kCsv;
  if (text == "jsonl") return InputFormat::kJsonLines;
  return absl::InvalidArgumentError(
      absl::StrCat("input format ", QuoteForReason(text), ": expected auto, csv or jsonl"));
}

InputFormat ResolveInputFormat(InputFormat format, std::string_view path) {
  if (format != InputFormat::kAuto) return format;
  return path.ends_with(".jsonl") ? InputFormat::kJsonLines : InputFormat::kCsv;
}

}  // namespace brook::connectors
