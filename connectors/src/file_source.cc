// File: connectors/src/file_source.cc
#include "brook/connectors/file_source.h"

namespace brook::connectors::internal {
namespace {
// Version 1 is the camera job's former file reader's state, so checkpoints it
// took restore into a FileSource.
constexpr uint8_t kFileStateVersion = 1;
}  // namespace

std::string EncodeFileSourcePosition(const FileSourcePosition& p) {
  std::string bytes;
  DataOutputView out(&bytes);
  out.WriteUint8(kFileStateVersion);
  for (int64_t v : {p.data_offset, p.offset, p.line_number, p.accepted, p.rejected, p.blank_lines,
                    p.last_timestamp_ms}) {
    out.WriteInt64(v);
  }
  return bytes;
}

absl::Status DecodeFileSourcePosition(const std::vector<std::string>& states,
                                      FileSourcePosition* p) {
  if (states.size() != 1) {
    return absl::FailedPreconditionError("a file source restores from exactly one reader's state");
  }
  DataInputView in(states[0]);
  uint8_t version = 0;
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
  if (version != kFileStateVersion) {
    return absl::DataLossError(absl::StrCat("file source state: unknown version ", version));
  }
  for (int64_t* v : {&p->data_offset, &p->offset, &p->line_number, &p->accepted, &p->rejected,
                     &p->blank_lines, &p->last_timestamp_ms}) {
    BROOK_RETURN_IF_ERROR(in.ReadInt64(v));
  }
  if (!in.AtEnd()) return absl::DataLossError("file source state: trailing bytes");
  return absl::OkStatus();
}

}  // namespace brook::connectors::internal
